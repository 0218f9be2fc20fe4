// Whole journeys through the portal in real headless Chromium, with an axe-core check (WCAG 2.1 A and
// AA) of every page type on the way. Screenshots go to ARTIFACTS.
//
// Environment: BASE_URL (a running portal with the example data), ADMIN_EMAIL, ADMIN_PASSWORD,
// EXAMPLE_PASSWORD, CHROMIUM (default /usr/bin/chromium), ARTIFACTS (default target/browser-artifacts).
// For a mailed link the script prints `MAIL_LINK_REQUEST <address>` and reads the link's path from
// standard input.

import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';

const base = process.env.BASE_URL;
const artifacts = process.env.ARTIFACTS ?? 'target/browser-artifacts';
const examplePassword = process.env.EXAMPLE_PASSWORD;
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

/** Runs axe on the page once per page type and records violations. */
async function axe(page, type) {
  if (axeResults[type] !== undefined) return;
  const result = await new AxeBuilder({ page })
    .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'])
    .analyze();
  axeResults[type] = result.violations.length;
  for (const v of result.violations) {
    failures.push(`axe on ${type}: ${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
  }
}

async function shot(page, name) {
  await page.screenshot({ path: `${artifacts}/${name}.png`, fullPage: true });
}

async function newPage(width = 1280) {
  const context = await browser.newContext({ viewport: { width, height: 900 } });
  return context.newPage();
}

async function signIn(page, email, password) {
  await page.goto(`${base}/sign-in`);
  await axe(page, 'sign-in');
  await page.getByLabel('E-mail address').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((url) => !url.pathname.startsWith('/sign-in'));
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

let requestUrl;

await journey('a visitor searches with the keyboard, narrows with a facet and opens a dataset', async () => {
  const page = await newPage();
  await page.goto(`${base}/`);
  await axe(page, 'home');
  await shot(page, 'home');
  // Keyboard only: the skip link comes first, then the way to the search box.
  await page.keyboard.press('Tab');
  check(await page.evaluate(() => document.activeElement.classList.contains('skip-link')), 'the skip link is the first stop');
  await page.locator('#home-q').focus();
  await page.keyboard.type('lung CT');
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/datasets\?/);
  await axe(page, 'search');
  await shot(page, 'search');
  const results = await page.locator('.card-title a').count();
  check(results > 0, 'the search finds datasets');
  await page.locator('a[href*="modality=CT"]').first().click();
  await page.waitForURL(/modality=CT/);
  await page.locator('.card-title a').first().click();
  await page.waitForURL(/\/datasets\/[a-z0-9-]+$/);
  check((await page.locator('h1').textContent()).trim().length > 0, 'the dataset page has a title');
  await axe(page, 'dataset');
  await shot(page, 'dataset');
  // Narrow screens: nothing overflows sideways at 360 px.
  const narrow = await newPage(360);
  await narrow.goto(page.url());
  const overflow = await narrow.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `the dataset page fits 360 px (overflow ${overflow}px)`);
  await shot(narrow, 'dataset-360px');
});

/** Asks the test harness, which reads the portal's mail, for the link sent to `email`. */
async function mailedLink(email) {
  console.log(`MAIL_LINK_REQUEST ${email}`);
  return new Promise((resolve) => {
    process.stdin.once('data', (chunk) => resolve(chunk.toString().trim()));
  });
}

const researcherEmail = 'bea@example.org';
const researcherName = 'Bea Browser';
const researcherPassword = 'violet tundra ferry 42';

await journey('a visitor registers and confirms the address from the e-mail', async () => {
  const page = await newPage();
  await page.goto(`${base}/register`);
  await axe(page, 'register');
  await page.getByRole('button', { name: 'Create account' }).click();
  check(await page.locator('#name-error').isVisible(), 'mistakes are shown next to their fields');
  await axe(page, 'register-with-errors');
  await page.getByLabel('Full name').fill(researcherName);
  await page.getByLabel('E-mail address').fill(researcherEmail);
  await page.getByLabel('Institution (optional)').fill('Example University Hospital');
  await page.getByLabel('Password', { exact: true }).fill(researcherPassword);
  await page.getByLabel('Password again').fill(researcherPassword);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'Check your inbox' }).waitFor();
  const link = await mailedLink(researcherEmail);
  check(link.startsWith('/verify-email?token='), `a confirmation link arrives (${link})`);
  await page.goto(`${base}${link}`);
  await axe(page, 'confirm-email');
  await page.getByRole('button', { name: 'Confirm my address' }).click();
  await page.waitForURL(/notice=verified/);
});

await journey('the new researcher writes a project, requests two datasets of two committees and accepts their agreements', async () => {
  const page = await newPage();
  await signIn(page, researcherEmail, researcherPassword);
  await axe(page, 'account');
  for (const slug of ['example-chest-ct-research-extract', 'example-brain-mri-registry']) {
    await page.goto(`${base}/datasets/${slug}`);
    await page.getByRole('button', { name: 'Request access' }).click();
    await page.waitForURL(/\/cart$/);
  }
  check((await page.locator('#split-note').textContent()).includes('2 committees'), 'the cart says it splits per committee');
  await page.getByRole('link', { name: 'Write a project' }).click();
  await axe(page, 'project-form');
  await page.getByLabel('Title').fill('Nodule detection');
  await page.getByLabel('Research-use statement').fill('We develop and validate a lung nodule detection model for screening CT.');
  await page.getByLabel('Health, medical or biomedical research (HMB)').check();
  await page.getByLabel('Ethics (IRB) protocol number').fill('IRB-2026-7');
  await page.getByLabel('Ethics approval expires on').fill('2031-12-31');
  await page.getByRole('button', { name: 'Save project' }).click();
  await page.waitForURL(/\/projects\/\d+$/);
  await axe(page, 'project');
  await page.goto(`${base}/cart`);
  await page.getByRole('button', { name: 'Check the request' }).click();
  await axe(page, 'cart');
  await shot(page, 'cart-check');
  // Keyboard only: type each signature, tick the conditions, submit with Enter.
  for (const input of await page.locator('input[name^="sign_"]').all()) {
    await input.focus();
    await page.keyboard.type(researcherName);
  }
  await page.locator('#acknowledge').focus();
  await page.keyboard.press('Space');
  await page.getByRole('button', { name: 'Submit the request' }).focus();
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/requests\?submitted=/);
  check((await page.locator('#submitted-notice').textContent()).includes('#'), 'the requests are listed as submitted');
  await axe(page, 'requests');
  await shot(page, 'requests');
});

await journey('a reviewer asks for changes, the researcher resubmits, the reviewer approves', async () => {
  const reviewer = await newPage();
  await signIn(reviewer, 'reviewer@example.org', examplePassword);
  await reviewer.goto(`${base}/review`);
  await axe(reviewer, 'review-queue');
  await shot(reviewer, 'review-queue');
  await reviewer.locator('#queue-table a', { hasText: '#' }).first().click();
  await reviewer.waitForURL(/\/requests\/\d+/);
  requestUrl = reviewer.url().split('?')[0];
  await axe(reviewer, 'request-review');
  await reviewer.getByLabel('Ask the applicant for changes').fill('Please attach the IRB approval letter.');
  await reviewer.getByRole('button', { name: 'Request changes' }).click();
  await reviewer.waitForURL(/notice=/);
  check((await reviewer.locator('#request-state').textContent()).includes('Changes requested'), 'changes requested');

  const researcher = await newPage();
  await signIn(researcher, researcherEmail, researcherPassword);
  await researcher.goto(`${base}/notifications`);
  await axe(researcher, 'notifications');
  await researcher.goto(requestUrl);
  await axe(researcher, 'request-applicant');
  await researcher.getByLabel('What did you change?').fill('Uploaded the letter to the project.');
  await researcher.getByRole('button', { name: 'Resubmit' }).click();
  await researcher.waitForURL(/notice=/);

  await reviewer.goto(requestUrl);
  await reviewer.getByLabel('Approve').check();
  await reviewer.getByLabel('Rationale (the applicant sees it)').fill('The use fits the agreement.');
  await reviewer.getByRole('button', { name: 'Record decision' }).click();
  await reviewer.waitForURL(/notice=/);
  check((await reviewer.locator('#request-state').textContent()).includes('Approved'), 'approved');
  await shot(reviewer, 'request-approved');

  await researcher.goto(`${base}/access`);
  await axe(researcher, 'my-access');
  await shot(researcher, 'my-access');
  check((await researcher.locator('.grant-status').first().textContent()).includes('Active'), 'the researcher sees the grant');
  await researcher.goto(`${base}/duas/institutional-imaging-dua`);
  await axe(researcher, 'agreement');
});

await journey('an administrator revokes the grant', async () => {
  const admin = await newPage();
  await signIn(admin, process.env.ADMIN_EMAIL, process.env.ADMIN_PASSWORD);
  await admin.goto(requestUrl);
  await admin.locator('.revoke-form input[name="reason"]').first().fill('Project closed.');
  await admin.locator('.revoke-form button').first().click();
  await admin.waitForURL(/notice=/);
  check((await admin.locator('#grants').textContent()).includes('Revoked'), 'the grant is revoked');
  await admin.goto(`${base}/admin/users`);
  await axe(admin, 'admin-users');
  await admin.goto(`${base}/admin/audit`);
  await axe(admin, 'admin-audit');
  await shot(admin, 'admin-audit');
  await admin.goto(`${base}/admin/committees`);
  await axe(admin, 'admin-committees');
});

await journey('an administrator edits a dataset and restores the earlier version', async () => {
  const admin = await newPage();
  await signIn(admin, process.env.ADMIN_EMAIL, process.env.ADMIN_PASSWORD);
  await admin.goto(`${base}/admin/datasets?q=lidc`);
  await axe(admin, 'admin-datasets');
  await admin.getByRole('link', { name: 'LIDC-IDRI', exact: true }).click();
  await admin.waitForURL(/\/edit/);
  await axe(admin, 'dataset-editor');
  const original = await admin.getByLabel('Title', { exact: true }).inputValue();
  await admin.getByLabel('Title', { exact: true }).fill(`${original} (curated)`);
  await admin.getByRole('button', { name: 'Save' }).click();
  await admin.waitForURL(/notice=/);
  await admin.goto(`${base}/datasets/lidc-idri`);
  check((await admin.locator('h1').textContent()).includes('(curated)'), 'the edit is public');
  await admin.goto(`${base}/admin/datasets/lidc-idri/history`);
  await axe(admin, 'dataset-history');
  await shot(admin, 'dataset-history');
  await admin.getByRole('button', { name: /Restore version 1/ }).click();
  await admin.goto(`${base}/datasets/lidc-idri`);
  check((await admin.locator('h1').textContent()).trim() === original, 'the first version is back');
});

await journey('an administrator reads the search analytics on a narrow screen', async () => {
  const admin = await newPage(360);
  await signIn(admin, process.env.ADMIN_EMAIL, process.env.ADMIN_PASSWORD);
  await admin.goto(`${base}/admin/searches?days=7`);
  // The visitor's search of the first journey, written by the flush job meanwhile.
  check((await admin.locator('#frequent').textContent()).toLowerCase().includes('lung ct'), 'the visitor\'s search is listed');
  await axe(admin, 'admin-searches');
  const overflow = await admin.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `the search analytics fit 360 px (overflow ${overflow}px)`);
  await shot(admin, 'admin-searches-360px');
  await admin.getByLabel('Period').selectOption('90');
  await admin.getByRole('button', { name: 'Show' }).click();
  await admin.waitForURL(/days=90/);
  check((await admin.locator('#totals-heading').textContent()).includes('90 days'), 'the period changes without script');
});

await browser.close();
console.log('axe violations per page type:', JSON.stringify(axeResults));
if (failures.length > 0) {
  console.log(`\n${failures.length} failures:\n${failures.join('\n')}`);
}
// Standard input stays open for mailed links; end explicitly.
process.exit(failures.length > 0 ? 1 : 0);
