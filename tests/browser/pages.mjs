// Drives Debian's chromium (headless, through playwright-core) against a
// running rblzoned, as a listed party and then the abuse desk would use it.
// Started by tests/integration/test_pages.py, which starts the daemon and
// seeds it; everything it needs comes in the environment:
//   RBLZONE_URL          http://127.0.0.1:PORT
//   RBLZONE_DESK_TOKEN   a desk token
//   RBLZONE_ZONE         the zone the listings are in
//   RBLZONE_LISTED       an address listed by hand (so delisting waits for the desk)
//   RBLZONE_UNLISTED     an address listed nowhere
//   RBLZONE_XSS          an address whose listing reason is markup
//   RBLZONE_XSS_REASON   that reason, exactly
//   RBLZONE_OUT          where the screenshots go
//   RBLZONE_TOP          the expected top queried listed subjects, "SUBJECT=COUNT,..."
//   RBLZONE_PENDING      how many delist requests were pending before the test (more
//                        than the console's page of 100)
//   CHROMIUM             the browser (default /usr/bin/chromium)
// Exits 0 when every step held, 1 with the failing step otherwise.
import { chromium } from "playwright-core";
import fs from "node:fs";
import path from "node:path";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`missing ${k}`);
  return v;
};
const base = env("RBLZONE_URL");
const token = env("RBLZONE_DESK_TOKEN");
const zone = env("RBLZONE_ZONE");
const listed = env("RBLZONE_LISTED");
const unlisted = env("RBLZONE_UNLISTED");
const xss = env("RBLZONE_XSS");
const xssReason = env("RBLZONE_XSS_REASON");
const out = env("RBLZONE_OUT");
const top = env("RBLZONE_TOP").split(",").map((p) => p.split("="));
const seeded = Number(env("RBLZONE_PENDING"));
fs.mkdirSync(out, { recursive: true });

let step = "start";
function check(cond, what) {
  if (!cond) throw new Error(`${step}: ${what}`);
}
async function shot(page, name) {
  await page.screenshot({ path: path.join(out, name), fullPage: true });
  console.log(`screenshot ${name}`);
}

// Every dialog (an alert() from injected script) and every page error or
// console error (a CSP violation) is a failure.
const problems = [];
function watch(page) {
  page.on("dialog", async (d) => {
    problems.push(`dialog: ${d.message()}`);
    await d.dismiss();
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const where = m.location() ? m.location().url : "";
    if (where.includes("favicon")) return;
    // A 404 the test asked for on purpose shows as a resource error.
    if (m.text().includes("status of 404")) return;
    problems.push(`console error: ${m.text()} at ${where}`);
  });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
let failed = null;
try {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  watch(page);

  step = "look up a listed address from the form";
  await page.goto(`${base}/lookup`);
  await page.fill("#q", listed);
  await Promise.all([page.waitForURL(/\/lookup\/.+/), page.click("form.lookup button")]);
  check((await page.textContent("#summary")).includes(`${listed} is listed in`),
        `summary says listed: ${await page.textContent("#summary")}`);
  const section = page.locator(`section.zone.listed[data-zone="${zone}"]`);
  check((await section.count()) === 1, `a listed section for ${zone}`);
  const text = await section.textContent();
  check(text.includes("127.0.0.2"), "the code is shown");
  check(text.includes("spam from a compromised host"), "the reason is shown");
  check(/Since\s*\d{4}-\d\d-\d\dT/.test(text), "since when");
  check(/Until\s*\d{4}-\d\d-\d\dT/.test(text), "until when");
  check(text.includes("How to get delisted"), "how to get delisted");
  await shot(page, "lookup-listed.png");

  step = "look up an unlisted address";
  await page.goto(`${base}/lookup`);
  await page.fill("#q", unlisted);
  await Promise.all([page.waitForURL(/\/lookup\/.+/), page.click("form.lookup button")]);
  check((await page.textContent("#summary")).includes(`${unlisted} is not listed in any`),
        "summary says not listed");
  check((await page.locator("section.zone.listed").count()) === 0, "no listed section");
  await shot(page, "lookup-unlisted.png");

  step = "a reason holding markup shows as text";
  await page.goto(`${base}/lookup/${xss}`);
  const reason = await page.textContent(`section[data-zone="${zone}"] .reason`);
  check(reason === xssReason, `the reason reads as typed: ${JSON.stringify(reason)}`);
  check((await page.evaluate(() => window.__xss)) === undefined, "the injected script did not run");
  check((await page.locator("section.zone img").count()) === 0, "no injected element");
  await shot(page, "lookup-xss.png");

  step = "ask for delisting from the lookup page";
  await page.goto(`${base}/lookup/${listed}`);
  await Promise.all([page.waitForURL(/\/delist\?/),
                     page.click(`section[data-zone="${zone}"] a.button`)]);
  check((await page.inputValue("#subject")).length > 0, "the subject is filled in");
  check((await page.inputValue("#zone")) === zone, "the zone is chosen");
  await page.fill("#contact", "postmaster@example.net");
  await page.fill("#explanation", "The compromised host is cleaned and its password changed.");
  await Promise.all([page.waitForURL(/\/delist\/[0-9a-f]+$/), page.click("form.delist button")]);
  const id = (await page.textContent("#request-id")).trim();
  check(/^[0-9a-f]+$/.test(id), `a request id: ${id}`);
  check((await page.textContent("#status")) === "pending", "the request waits for the desk");
  check(!(await page.content()).includes("postmaster@example.net"), "the contact stays private");
  const statusUrl = page.url();
  await shot(page, "delist-pending.png");

  step = "the desk signs in to the console";
  const desk = await context.newPage();
  watch(desk);
  await desk.goto(`${base}/console`);
  await desk.waitForSelector("#signin:not(.hidden)");
  await desk.fill("#token", token);
  await desk.click("#signin-form button");
  await desk.waitForSelector("#app:not(.hidden)");
  check(!desk.url().includes(token), "no token in the URL");
  check((await desk.textContent("#who")).includes("token:"), "who is signed in");

  step = "the request is in the console";
  const row = desk.locator(`#pending tr[data-id="${id}"]`);
  await row.waitFor();
  const rowText = await row.textContent();
  check(rowText.includes("postmaster@example.net"), "the desk sees the contact");
  check(rowText.includes("cleaned"), "the desk sees the explanation");
  await desk.waitForFunction(() => document.querySelectorAll("#feed li").length > 0);
  // Let the queries-per-minute chart take two samples.
  await desk.waitForTimeout(5500);
  await shot(desk, "console-pending.png");

  step = "the pending list shows its total and loads older pages";
  const pendingTotal = seeded + 1;
  const totalText = () => desk.textContent("#pending-total");
  check((await totalText()) === `${pendingTotal} pending, the newest 100 shown`,
        `the total is shown: ${await totalText()}`);
  check((await desk.locator("#pending tbody tr").count()) === 100, "one page of 100");
  check(await desk.isVisible("#pending-older"), "an Older button");
  await desk.click("#pending-older");
  await desk.waitForFunction(
      (n) => document.querySelectorAll("#pending tbody tr").length === n, pendingTotal);
  const ids = await desk.locator("#pending tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.id));
  check(new Set(ids).size === pendingTotal, "every pending request once");
  check(ids[0] === id, "the newest first");
  check((await totalText()) === `${pendingTotal} pending`, `all shown: ${await totalText()}`);
  check(await desk.isHidden("#pending-older"), "no Older button after the last page");

  step = "the console charts the most queried listed subjects";
  await desk.waitForFunction(
      (n) => document.querySelectorAll("#top-listed tbody tr").length === n, top.length);
  const topRows = await desk.locator("#top-listed tbody tr").evaluateAll((rows) => rows.map((r) => ({
    zone: r.children[0].textContent, subject: r.children[1].textContent,
    href: r.querySelector("a") ? r.querySelector("a").getAttribute("href") : null,
    count: r.children[2].textContent, width: r.querySelector("span.bar").style.width })));
  top.forEach(([subject, count], i) => {
    const r = topRows[i];
    check(r.subject === subject, `top row ${i + 1} is ${subject} (got ${r.subject})`);
    check(r.count === count, `${subject} was queried ${count} times (got ${r.count})`);
    check(r.zone === zone, `${subject} is in ${zone}`);
    check(r.href === "/lookup/" + subject.split("/").map(encodeURIComponent).join("/"),
          `${subject} links to its lookup page (${r.href})`);
    const want = 100 * Number(count) / Number(top[0][1]);
    check(r.width.endsWith("%") && Math.abs(parseFloat(r.width) - want) < 0.06,
          `${subject}'s bar is ${want.toFixed(1)}% long (got ${r.width})`);
  });
  await desk.locator("section.panel", { has: desk.locator("#top-listed") })
      .screenshot({ path: path.join(out, "console-top-listed.png") });
  console.log("screenshot console-top-listed.png");
  // A click on a subject shows its listing in the console's search.
  const [lastSubject] = top[top.length - 1];
  await desk.locator("#top-listed tbody tr a").last().click();
  await desk.waitForFunction(
      (s) => [...document.querySelectorAll("#listings td")].some((td) => td.textContent.startsWith(s)),
      lastSubject);
  check((await desk.inputValue("#search")) === lastSubject, "the search names the clicked subject");
  check(desk.url().endsWith("/console"), "the click stayed in the console");

  step = "the console's listing search shows a markup reason as text";
  await desk.fill("#search", xss);
  await desk.click("#search-form button");
  await desk.waitForFunction(
      (s) => [...document.querySelectorAll("#listings td")].some((td) => td.textContent === s), xss);
  const cells = await desk.locator("#listings td").allTextContents();
  check(cells.includes(xssReason), "the reason cell reads as typed");
  check((await desk.evaluate(() => window.__xss)) === undefined, "no script ran in the console");

  step = "the desk adds a listing and removes it";
  await desk.fill("#add-subject", "198.51.100.77");
  await desk.fill("#add-reason", "listed from the console");
  await desk.fill("#add-code", "desk");
  await desk.click("#add-form button");
  await desk.waitForFunction(
      () => document.querySelector("#message").textContent.includes("Listed 198.51.100.77"));
  await desk.fill("#search", "198.51.100.77");
  await desk.click("#search-form button");
  const added = desk.locator("#listings tbody tr", { hasText: "198.51.100.77" });
  await added.waitFor();
  check((await added.textContent()).includes("127.0.0.4"), "the desk code is shown");
  const pub = await context.newPage();
  await pub.goto(`${base}/lookup/198.51.100.77`);
  check((await pub.locator(`section.zone.listed[data-zone="${zone}"]`).count()) === 1,
        "the public page shows the console's listing");
  await added.locator("button.remove").click();
  await desk.waitForFunction(
      () => document.querySelector("#message").textContent.includes("Removed 198.51.100.77"));
  await pub.reload();
  check((await pub.locator(`section.zone.clean[data-zone="${zone}"]`).count()) === 1,
        "the public page shows the removal");
  await pub.close();

  step = "the desk approves";
  await row.locator("input").fill("host cleaned, confirmed");
  await row.locator("button.approve").click();
  await desk.waitForFunction((rid) => !document.querySelector(`#pending tr[data-id="${rid}"]`), id);
  check((await desk.textContent("#message")).includes("approved"), "the console says approved");
  check((await desk.textContent("#pending-total")) === `${seeded} pending, the newest 100 shown`,
        "the total follows the decision");
  await desk.waitForFunction(
      () => [...document.querySelectorAll("#feed li")].some((li) => li.textContent.includes("delist")));
  await shot(desk, "console-approved.png");

  step = "the lookup page changes";
  await page.goto(statusUrl);
  check((await page.textContent("#status")) === "approved", "the status page says approved");
  await shot(page, "delist-approved.png");
  await page.goto(`${base}/lookup/${listed}`);
  check((await page.locator(`section.zone.clean[data-zone="${zone}"]`).count()) === 1,
        "the zone now reads not listed");
  await shot(page, "lookup-after-approval.png");

  step = "the public pages work without JavaScript";
  const plain = await browser.newContext({ javaScriptEnabled: false });
  const p2 = await plain.newPage();
  watch(p2);
  await p2.goto(`${base}/lookup`);
  await p2.fill("#q", xss);
  await Promise.all([p2.waitForURL(/\/lookup\/.+/), p2.click("form.lookup button")]);
  check((await p2.textContent("#summary")).includes("is listed in"), "lookup without JS");
  await p2.goto(`${base}/delist?zone=${zone}&subject=${xss}`);
  await p2.fill("#contact", "abuse@example.net");
  await p2.fill("#explanation", "no JS here");
  await Promise.all([p2.waitForURL(/\/delist\/[0-9a-f]+$/), p2.click("form.delist button")]);
  check((await p2.textContent("#status")) === "pending", "delist form without JS");
  await shot(p2, "nojs-delist.png");
  await plain.close();

  step = "no dialog, page error or CSP violation on any page";
  check(problems.length === 0, problems.join("; "));
} catch (e) {
  failed = e;
} finally {
  await browser.close();
}
if (failed) {
  console.error(`FAILED ${failed.message}`);
  if (problems.length) console.error(`also seen: ${problems.join("; ")}`);
  process.exit(1);
}
console.log("all browser steps passed");
