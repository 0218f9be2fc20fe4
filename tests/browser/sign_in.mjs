// Signing in, in real headless Chromium, with an axe-core check (WCAG 2.1 A and AA) of each page on
// the way: through an institution's OpenID Connect provider, and with a password and a second factor
// whose codes this script computes itself (RFC 6238 with node's HMAC-SHA-1). Screenshots go to
// ARTIFACTS.
//
// Environment: BASE_URL (a running portal that knows the provider as "University Hospital"),
// PROVIDER_LOGIN (a login name at the provider), EMAIL and PASSWORD (a local account without two-factor
// sign-in), CHROMIUM (default /usr/bin/chromium), ARTIFACTS (default target/browser-artifacts).

import { createHmac } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';

const base = process.env.BASE_URL;
const artifacts = process.env.ARTIFACTS ?? 'target/browser-artifacts';
mkdirSync(artifacts, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
const failures = [];
const axeResults = {};

function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** Runs axe on the page and records violations under `type`. */
async function axe(page, type) {
  const result = await new AxeBuilder({ page })
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'])
    .analyze();
  axeResults[type] = result.violations.length;
  for (const v of result.violations) {
    failures.push(`axe on ${type}: ${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
  }
}

async function journey(name, steps) {
  try {
    await steps();
    console.log(`ok   ${name}`);
  } catch (error) {
    failures.push(`${name}: ${error.message}`);
    console.log(`FAIL ${name}: ${error.message}`);
  }
}

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  return context.newPage();
}

/** The six-digit code of the base32 `secret` at `unixSeconds` (RFC 6238: SHA-1, 30-second steps). */
function totp(secret, unixSeconds) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const char of secret.replace(/[\s=]/g, '').toUpperCase()) {
    bits += alphabet.indexOf(char).toString(2).padStart(5, '0');
  }
  const key = Buffer.from(bits.match(/.{8}/g).map((byte) => parseInt(byte, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(unixSeconds / 30)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const number = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(number).padStart(6, '0');
}

await journey('a researcher signs in through the institution and out again', async () => {
  const page = await newPage();
  await page.goto(`${base}/sign-in`);
  await axe(page, 'sign-in with providers');
  await page.getByRole('link', { name: 'Sign in with University Hospital' }).click();
  await page.getByLabel('Login').fill(process.env.PROVIDER_LOGIN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}/account`);
  check((await page.locator('#account-institution').textContent()).includes('Radiology'), 'the institution is on the profile');
  check((await page.locator('#no-password').textContent()).includes('institution'), 'no password here');
  await axe(page, 'account of an institution\'s person');
  await page.screenshot({ path: `${artifacts}/oidc-account.png`, fullPage: true });
  // Sign out sits in the header's menu.
  await page.locator('#account-menu summary').click();
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await page.getByRole('link', { name: 'Sign out at University Hospital too' }).waitFor();
  await axe(page, 'signed out of an institution\'s session');
  await page.getByRole('link', { name: 'Sign out at University Hospital too' }).click();
  // The provider asks whether to end its session.
  await page.waitForURL((url) => !url.href.startsWith(base));
});

await journey('a researcher turns on two-factor sign-in and signs in with a code', async () => {
  const page = await newPage();
  await page.goto(`${base}/sign-in`);
  await page.getByLabel('E-mail address').fill(process.env.EMAIL);
  await page.getByLabel('Password').fill(process.env.PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(`${base}/account`);
  await page.getByRole('link', { name: 'Two-factor sign-in' }).click();
  await axe(page, 'two-factor settings');
  await page.getByRole('button', { name: 'Set up two-factor sign-in' }).click();
  const secret = (await page.locator('#two-factor-secret').textContent()).replace(/\s/g, '');
  const qr = page.locator('img.qr-code');
  check((await qr.evaluate((img) => img.naturalWidth)) > 0, 'the QR code is drawn');
  await axe(page, 'two-factor setup');
  await page.screenshot({ path: `${artifacts}/two-factor-setup.png`, fullPage: true });
  // Away from the end of a step, so the code is still the current one when it arrives.
  if (30 - ((Date.now() / 1000) % 30) < 4) await page.waitForTimeout(5000);
  await page.getByLabel('Code from your app').fill(totp(secret, Date.now() / 1000));
  await page.getByRole('button', { name: 'Turn on two-factor sign-in' }).click();
  check((await page.locator('#recovery-codes li').count()) === 10, 'ten recovery codes are shown');
  await axe(page, 'recovery codes');
  await page.screenshot({ path: `${artifacts}/recovery-codes.png`, fullPage: true });

  const again = await newPage();
  await again.goto(`${base}/sign-in`);
  await again.getByLabel('E-mail address').fill(process.env.EMAIL);
  await again.getByLabel('Password').fill(process.env.PASSWORD);
  await again.getByRole('button', { name: 'Sign in', exact: true }).click();
  await again.waitForURL(`${base}/sign-in/code`);
  await axe(again, 'sign-in code');
  // The code that turned it on was taken; the next step's is new.
  await again.getByLabel('Code', { exact: true }).fill(totp(secret, Date.now() / 1000 + 30));
  await again.getByRole('button', { name: 'Sign in' }).click();
  await again.waitForURL(`${base}/account`);
  check((await again.locator('#two-factor-chip').textContent()) === 'on', 'two-factor sign-in is on');
});

await browser.close();
console.log('axe violations per page type:', JSON.stringify(axeResults));
if (failures.length > 0) {
  console.log(`\n${failures.length} failures:\n${failures.join('\n')}`);
}
process.exit(failures.length > 0 ? 1 : 0);
