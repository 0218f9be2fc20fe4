// Whole journeys through the portal in real headless Chromium, with an axe-core check (WCAG 2.2 A and
// AA and the best-practice rules) of every page type on the way, then every page route of the route
// table opened by every role at 1280 and 360 px: axe at both widths, and no sideways scrolling at
// 360 px. Screenshots go to ARTIFACTS, and the table of results to ARTIFACTS/pages.md.
//
// Environment: BASE_URL (a running portal with the example data), ADMIN_EMAIL, ADMIN_PASSWORD,
// EXAMPLE_PASSWORD, CHROMIUM (default /usr/bin/chromium), ARTIFACTS (default target/browser-artifacts).
// Key pages are compared with the screenshots in baselines/ (UPDATE_BASELINES=1 writes them anew).
// For a mailed link the script prints `MAIL_LINK_REQUEST <address>` and reads the link's path from
// standard input; for the pages to check it prints `PAGES_REQUEST` and reads one JSON line of
// `{ route, url }`.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';
import pixelmatch from 'pixelmatch';
import { PNG } from 'pngjs';

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

const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'];

/** Runs axe on the page and returns the number of violations, each recorded as a failure. */
async function axeCount(page, type) {
  const result = await new AxeBuilder({ page }).withTags(AXE_TAGS).analyze();
  for (const v of result.violations) {
    failures.push(`axe on ${type}: ${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
  }
  return result.violations.length;
}

/** Runs axe on the page once per page type and records violations. */
async function axe(page, type) {
  if (axeResults[type] !== undefined) return;
  axeResults[type] = await axeCount(page, type);
}

/** How many pixels the page is wider than the window (0 when nothing scrolls sideways). */
async function overflow(page) {
  return page.evaluate(() => Math.max(0, document.documentElement.scrollWidth - window.innerWidth));
}

/** The innermost elements reaching past the window's right edge, outside any scrolling box: what
 * widens the page. */
async function widest(page) {
  return page.evaluate(() => {
    const edge = window.innerWidth + 1;
    const scrolls = (el) => {
      for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
        const { overflowX } = getComputedStyle(up);
        if (overflowX === 'auto' || overflowX === 'scroll' || overflowX === 'hidden') return true;
      }
      return false;
    };
    const past = [...document.body.querySelectorAll('*')].filter((el) => el.getBoundingClientRect().right > edge && !scrolls(el));
    // Text longer than its box reaches past it without widening the box itself.
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const range = document.createRange();
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      range.selectNodeContents(node);
      if (range.getBoundingClientRect().right > edge && !scrolls(node.parentElement) && !past.includes(node.parentElement)) past.push(node.parentElement);
    }
    const all = past.length > 0 ? past : [...document.body.querySelectorAll('*')].filter((el) => el.getBoundingClientRect().right > edge);
    return all
      .filter((el) => !all.some((other) => other !== el && el.contains(other)))
      .slice(0, 3)
      .map((el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${el.className && typeof el.className === 'string' ? `.${el.className.trim().split(/\s+/).join('.')}` : ''} (+${Math.round(el.getBoundingClientRect().right - window.innerWidth)}px)`);
  });
}

async function shot(page, name) {
  await page.screenshot({ path: `${artifacts}/${name}.png`, fullPage: true });
}

async function newPage(width = 1280, height = 900, options = {}) {
  const context = await browser.newContext({ viewport: { width, height }, ...options });
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

/** `JOURNEYS=text` runs only the journeys whose name contains the text (while working on one). */
const only = process.env.JOURNEYS;

async function journey(name, steps) {
  if (only && !name.includes(only)) return;
  try {
    await steps();
    console.log(`ok   ${name}`);
  } catch (error) {
    failures.push(`${name}: ${error.message}`);
    console.log(`FAIL ${name}: ${error.message}`);
  }
}

let requestUrl;

const baselines = new URL('./baselines/', import.meta.url).pathname;
/** The share of pixels that may differ from the baseline before a screenshot fails. */
const SCREENSHOT_TOLERANCE = Number(process.env.SCREENSHOT_TOLERANCE ?? 0.002);
/** One font, no caret, no transitions: the same page renders the same pixels on every run. */
const STEADY = `*, *::before, *::after { font-family: "DejaVu Sans", sans-serif !important;
  transition: none !important; animation: none !important; caret-color: transparent !important; }`;

/** Compares the first screen of `page` with its baseline, pixel by pixel, within the tolerance. */
async function compareScreenshot(page, name) {
  await page.addStyleTag({ content: STEADY });
  await page.evaluate(() => document.fonts.ready);
  const actual = PNG.sync.read(await page.screenshot({ animations: 'disabled', caret: 'hide' }));
  const file = `${baselines}${name}.png`;
  if (process.env.UPDATE_BASELINES || !existsSync(file)) {
    mkdirSync(baselines, { recursive: true });
    writeFileSync(file, PNG.sync.write(actual));
    check(process.env.UPDATE_BASELINES, `no baseline for ${name}: written to ${file}; review and commit it`);
    return 0;
  }
  const expected = PNG.sync.read(readFileSync(file));
  check(expected.width === actual.width && expected.height === actual.height,
    `${name} is ${actual.width}×${actual.height}, its baseline ${expected.width}×${expected.height}`);
  const diff = new PNG({ width: actual.width, height: actual.height });
  const differing = pixelmatch(expected.data, actual.data, diff.data, actual.width, actual.height, { threshold: 0.1 });
  const share = differing / (actual.width * actual.height);
  if (share > SCREENSHOT_TOLERANCE) {
    writeFileSync(`${artifacts}/${name}-actual.png`, PNG.sync.write(actual));
    writeFileSync(`${artifacts}/${name}-diff.png`, PNG.sync.write(diff));
  }
  check(share <= SCREENSHOT_TOLERANCE,
    `${name} differs from its baseline in ${(share * 100).toFixed(2)}% of pixels (tolerance ${(SCREENSHOT_TOLERANCE * 100).toFixed(2)}%): see ${artifacts}/${name}-diff.png`);
  return share;
}

await journey('key pages look as they did: screenshots within the tolerance of their baselines', async () => {
  // Before any other journey changes the data: the catalog and the example data as seeded.
  const shots = [
    ['home-1280', '/', 1280, 900],
    ['search-360', '/datasets?q=lung+CT', 360, 740],
    ['dataset-controlled-1280', '/datasets/example-chest-ct-research-extract', 1280, 900],
    ['dataset-controlled-360', '/datasets/example-chest-ct-research-extract', 360, 740],
    ['sign-in-360', '/sign-in', 360, 740],
  ];
  for (const [name, url, width, height] of shots) {
    // The steadying style is added by the test, which the portal's content security policy refuses.
    const page = await newPage(width, height, { bypassCSP: true, deviceScaleFactor: 1, reducedMotion: 'reduce' });
    await page.goto(`${base}${url}`);
    const share = await compareScreenshot(page, name);
    console.log(`     ${name}: ${(share * 100).toFixed(3)}% of pixels differ`);
    await page.context().close();
  }
  // The signed-in header on a phone, with its menu open: it opens without script.
  const researcher = await newPage(360, 740, { bypassCSP: true, deviceScaleFactor: 1, reducedMotion: 'reduce' });
  await signIn(researcher, 'researcher@example.org', examplePassword);
  const noScript = await browser.newContext({
    viewport: { width: 360, height: 740 },
    javaScriptEnabled: false,
    storageState: await researcher.context().storageState(),
  });
  const plain = await noScript.newPage();
  await plain.goto(`${base}/`);
  await plain.locator('#account-menu summary').click();
  check(await plain.getByRole('link', { name: 'Notifications' }).isVisible(), 'the menu opens without script');
  await noScript.close();
  await researcher.goto(`${base}/`);
  await researcher.locator('#account-menu summary').click();
  console.log(`     menu-360: ${((await compareScreenshot(researcher, 'menu-360')) * 100).toFixed(3)}% of pixels differ`);
  await researcher.context().close();
});

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
  return answer();
}

/** The next line the test harness writes on standard input. */
let pending = '';
function answer() {
  return new Promise((resolve) => {
    const take = () => {
      const end = pending.indexOf('\n');
      if (end < 0) return false;
      const line = pending.slice(0, end);
      pending = pending.slice(end + 1);
      resolve(line.trim());
      return true;
    };
    if (take()) return;
    const onData = (chunk) => {
      pending += chunk.toString();
      if (take()) process.stdin.off('data', onData);
    };
    process.stdin.on('data', onData);
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
  // Written from the cart, the saved project brings the researcher back to the cart, chosen.
  await page.waitForURL(/\/cart\?project=\d+$/);
  check((await page.locator('#project option:checked').textContent()) === 'Nodule detection', 'the new project is chosen in the cart');
  check((await page.locator('#cart-count').textContent()) === '2', 'the header counts the two datasets in the cart');
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

/**
 * Tabs from the start of the main content through every control in it and returns the controls
 * that were hidden when focused: wholly outside the window, or with another element on top of any
 * of the points checked (each line box's centre and the middle of the first box's edges), as a sticky bar
 * would be.
 * Fails when the tabbing does not reach every visible control.
 */
async function tabThrough(page, label) {
  const expected = await page.evaluate(() => [...document.querySelectorAll('main a[href], main button, main input:not([type="hidden"]), main select, main textarea, main summary, main [tabindex="0"]')]
    .filter((el) => !el.disabled && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden')
    // A group of radio buttons is one stop.
    .filter((el, _, all) => el.type !== 'radio' || all.find((other) => other.type === 'radio' && other.name === el.name) === el).length);
  await page.evaluate(() => { window.scrollTo(0, 0); document.querySelector('main').focus(); });
  const hidden = [];
  let reached = 0;
  for (let step = 0; step < 1000; step += 1) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el || !el.closest('main')) return null;
      const boxes = [...el.getClientRects()];
      const first = boxes[0];
      const inset = 3;
      const points = boxes.map((r) => [r.left + r.width / 2, r.top + r.height / 2]);
      if (first && first.width > 2 * inset && first.height > 2 * inset) {
        const [x, y] = [first.left + first.width / 2, first.top + first.height / 2];
        points.push([first.left + inset, y], [first.right - inset, y], [x, first.top + inset], [x, first.bottom - inset]);
      }
      // Off-screen parts are scrolled to as one types; only an element on top of it, or being
      // wholly out of view, hides it.
      const inView = points.filter(([x, y]) => x >= 0 && y >= 0 && x < window.innerWidth && y < window.innerHeight);
      const covered = inView.length === 0 ? ['outside the window'] : inView.flatMap(([x, y]) => {
        const top = document.elementsFromPoint(x, y)[0];
        // Its own parts, its label, or a box it sits in (a rounded corner) are not on top of it.
        if (!top || el.contains(top) || top.contains(el) || (top.tagName === 'LABEL' && top.control === el)) return [];
        return [`under ${top.tagName.toLowerCase()}${top.id ? `#${top.id}` : ''}${typeof top.className === 'string' && top.className ? `.${top.className.trim().split(/\s+/).join('.')}` : ''}`];
      });
      const name = el.id ? `#${el.id}` : `${el.tagName.toLowerCase()} “${(el.textContent || el.name || '').trim().slice(0, 40)}”`;
      return { name, covered };
    });
    if (!focused) break;
    reached += 1;
    if (focused.covered.length > 0) hidden.push(`${focused.name} (${[...new Set(focused.covered)].join(', ')})`);
  }
  check(reached >= expected, `tabbing through ${label} reaches all ${expected} controls (reached ${reached})`);
  return { reached, hidden };
}

await journey('tabbing through the longest forms, no focused control is covered, at 1280 and 360 px', async () => {
  const forms = [];
  for (const [width, height] of [[1280, 900], [360, 740]]) {
    const admin = await newPage(width, height);
    await signIn(admin, process.env.ADMIN_EMAIL, process.env.ADMIN_PASSWORD);
    await admin.goto(`${base}/admin/datasets/national-lung-screening-trial-nlst/edit`);
    forms.push([`the dataset editor at ${width}px`, await tabThrough(admin, 'the dataset editor')]);
    await admin.goto(`${base}/admin/committees`);
    await admin.locator('#committees-table a').first().click();
    await admin.waitForURL(/\/admin\/committees\/\d+$/);
    forms.push([`the committee form at ${width}px`, await tabThrough(admin, 'the committee form')]);
    const researcher = await newPage(width, height);
    await signIn(researcher, 'researcher@example.org', examplePassword);
    await researcher.goto(`${base}/projects/new`);
    forms.push([`the project form at ${width}px`, await tabThrough(researcher, 'the project form')]);
  }
  for (const [label, { reached, hidden }] of forms) {
    console.log(`     ${label}: ${reached} controls focused, ${hidden.length} covered`);
    check(hidden.length === 0, `in ${label} focused controls were covered: ${hidden.slice(0, 5).join('; ')}`);
  }
});

const ROLES = [
  { name: 'visitor' },
  { name: 'researcher', email: 'researcher@example.org', password: examplePassword },
  { name: 'reviewer', email: 'reviewer@example.org', password: examplePassword },
  { name: 'administrator', email: process.env.ADMIN_EMAIL, password: process.env.ADMIN_PASSWORD },
];
const WIDTHS = [1280, 360];
/** Per URL and role: what each width showed. */
const pageResults = new Map();

await journey('every page route, for every role, passes axe at 1280 and 360 px and fits 360 px', async () => {
  console.log('PAGES_REQUEST');
  // `PAGES=text` checks only the pages whose URL contains the text (while working on one).
  const pages = JSON.parse(await answer()).filter(({ url }) => !process.env.PAGES || url.includes(process.env.PAGES));
  check(process.env.PAGES || pages.length > 20, `the route table gives the pages (${pages.length})`);
  for (const { route, url } of pages) pageResults.set(url, { route, url, roles: {} });
  // The roles go through the pages side by side.
  await Promise.all(ROLES.map(async (role) => {
    const contexts = {};
    for (const width of WIDTHS) {
      const page = await newPage(width, width === 360 ? 740 : 900);
      if (role.email) await signIn(page, role.email, role.password);
      contexts[width] = page;
    }
    /** Page types this role has seen: a redirect or an error page is checked once. */
    const seen = new Map();
    for (const { route, url } of pages) {
      const row = pageResults.get(url);
      const cell = { widths: {} };
      row.roles[role.name] = cell;
      for (const width of WIDTHS) {
        const page = contexts[width];
        let response;
        try {
          response = await page.goto(`${base}${url}`);
        } catch (error) {
          // A file served as an attachment is downloaded, not shown.
          if (!error.message.includes('Download is starting')) throw error;
          cell.kind = 'a download';
          break;
        }
        const type = response.headers()['content-type'] ?? '';
        if (!type.startsWith('text/html')) {
          cell.kind = `a file (${type.split(';')[0]})`;
          break;
        }
        const landed = new URL(page.url());
        const status = response.status();
        const requested = new URL(`${base}${url}`);
        let key = url;
        if (landed.pathname !== requested.pathname) {
          key = `redirect to ${landed.pathname}`;
        } else if (status >= 400) {
          key = `error ${status}`;
        }
        cell.kind = key === url ? `${status}` : key;
        if (seen.has(`${key} ${width}`) && key !== url) {
          cell.widths[width] = seen.get(`${key} ${width}`);
          continue;
        }
        const result = {
          axe: await axeCount(page, `${url} as ${role.name} at ${width}px`),
          overflow: await overflow(page),
        };
        if (width === 360 && result.overflow > 0) {
          failures.push(`${url} as ${role.name} at 360px scrolls sideways by ${result.overflow}px: ${(await widest(page)).join(', ')}`);
        }
        if (width === 360 && route === '/datasets/{slug}' && status === 200) {
          // The key facts and the access panel's main action are on the first screen of a phone.
          const bottoms = await page.evaluate(() => ['#key-facts', '#access-action', '#access-heading']
            .map((selector) => document.querySelector(selector))
            .filter(Boolean)
            .map((el) => [el.id, el.getBoundingClientRect().bottom]));
          for (const [id, bottom] of bottoms) {
            if (bottom > page.viewportSize().height) {
              failures.push(`${url} as ${role.name} at 360px: #${id} is below the first screen (${Math.round(bottom)}px)`);
            }
          }
        }
        seen.set(`${key} ${width}`, result);
        cell.widths[width] = result;
      }
    }
  }));
  const lines = ['| page | visitor | researcher | reviewer | administrator |', '|---|---|---|---|---|'];
  for (const row of pageResults.values()) {
    const cells = ROLES.map(({ name }) => {
      const cell = row.roles[name];
      const narrow = cell.widths[360];
      const wide = cell.widths[1280];
      if (!narrow) return cell.kind;
      return `${cell.kind}: axe ${wide.axe}/${narrow.axe}, ${narrow.overflow} px`;
    });
    lines.push(`| ${row.url} | ${cells.join(' | ')} |`);
  }
  const table = lines.join('\n');
  writeFileSync(`${artifacts}/pages.md`, `Per page and role: the answer, axe violations at 1280/360 px, sideways overflow at 360 px.\n\n${table}\n`);
  console.log(`page types checked: ${pageResults.size} pages × ${ROLES.length} roles\n${table}`);
});

await browser.close();
console.log('axe violations per page type:', JSON.stringify(axeResults));
if (failures.length > 0) {
  console.log(`\n${failures.length} failures:\n${failures.join('\n')}`);
}
// Standard input stays open for mailed links; end explicitly.
process.exit(failures.length > 0 ? 1 : 0);
