// Copies the built files of the front-end packages into the gateway's static folder.
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";

const out = "../gateway/dashboard/static/vendor";
mkdirSync(out, { recursive: true });
const files = [
  ["node_modules/uplot/dist/uPlot.iife.min.js", "uPlot.iife.min.js"],
  ["node_modules/uplot/dist/uPlot.min.css", "uPlot.min.css"],
  ["node_modules/uplot/LICENSE", "uPlot.LICENSE"],
];
for (const [from, to] of files) copyFileSync(from, `${out}/${to}`);
const version = JSON.parse(readFileSync("node_modules/uplot/package.json", "utf8")).version;
console.log(`vendored uPlot ${version} into ${out}`);
