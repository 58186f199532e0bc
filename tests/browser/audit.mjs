// Opens a moat HTML audit report in headless Chromium and reports, as one
// JSON object on stdout, what a reader's browser sees: the zones and crossing
// rows in the DOM, console messages and page errors, every request the page
// makes besides loading itself, whether filtering and sorting work, and a
// screenshot (1280 px wide) and a PDF print of the page.
//
// usage: node audit.mjs REPORT.html SCREENSHOT.png PRINT.pdf
import { chromium } from "playwright-core";
import { pathToFileURL } from "node:url";
import { statSync } from "node:fs";

const [report, screenshot, pdf] = process.argv.slice(2);
const url = pathToFileURL(report).href;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
const out = { console: [], pageErrors: [], requests: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("console", (m) => out.console.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => out.pageErrors.push(String(e)));
  page.on("request", (r) => {
    if (r.url() !== url) out.requests.push(r.url());
  });
  await page.goto(url, { waitUntil: "load" });
  out.title = await page.title();
  out.summary = await page.textContent("#summary");
  out.pictureZones = await page.$$eval("#zone-picture g.zone", (gs) => gs.map((g) => g.dataset.zone));
  out.pictureEdges = await page.$$eval("#zone-picture path.edge", (ps) => ps.length);
  out.zoneRows = await page.$$eval("#zones-table tbody tr", (rs) => rs.map((r) => r.cells[0].textContent));
  out.crossingRows = await page.$$eval("#crossings-table tbody tr", (rs) =>
    rs.map((r) => ({ from: r.cells[1].textContent, to: r.cells[2].textContent, added: r.classList.contains("added") })));
  out.forbidRows = await page.$$eval("#forbids-table tbody tr", (rs) => rs.map((r) => r.cells[3].textContent));
  out.changeRows = await page.$$eval("#changes-table tbody tr", (rs) => rs.map((r) => r.cells[0].textContent));
  // The page must fit a 1280 px window: no horizontal scrolling.
  out.scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  if (out.crossingRows.length > 1) {
    // Filter the crossings by the first row's source: every visible row matches it.
    const needle = out.crossingRows[0].from;
    await page.fill('input[data-table="crossings-table"]', needle);
    out.filter = await page.$$eval("#crossings-table tbody tr", (rs, n) => ({
      visible: rs.filter((r) => !r.hidden).length,
      allMatch: rs.filter((r) => !r.hidden).every((r) => r.textContent.toLowerCase().includes(n.toLowerCase())),
    }), needle);
    await page.fill('input[data-table="crossings-table"]', "");
    // Sort by "to" twice: ascending, then descending.
    const col = async () => page.$$eval("#crossings-table tbody tr", (rs) => rs.map((r) => r.cells[2].textContent));
    await page.click("#crossings-table th:nth-child(3)");
    const asc = await col();
    await page.click("#crossings-table th:nth-child(3)");
    const desc = await col();
    const sorted = [...asc].sort((a, b) => a.localeCompare(b));
    out.sort = { ascending: JSON.stringify(asc) === JSON.stringify(sorted), descending: JSON.stringify(desc) === JSON.stringify([...sorted].reverse()) };
  }
  await page.screenshot({ path: screenshot, fullPage: true });
  await page.emulateMedia({ media: "print" });
  await page.pdf({ path: pdf, format: "A4", printBackground: true });
  out.pdfBytes = statSync(pdf).size;
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out) + "\n");
