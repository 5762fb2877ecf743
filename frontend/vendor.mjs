// Copies the pinned front-end libraries from node_modules into app/static/vendor/<package>/,
// each with its licence beside it, and writes app/static/vendor/VERSIONS.txt.
//
//   node frontend/vendor.mjs [--modules DIR/node_modules] [--out DIR]
//
// Normally run through scripts/vendor-assets.sh, which installs the exact versions from
// package-lock.json into a temporary directory first (and, with --check, compares the result
// with the committed copy). The output must be a pure function of the pinned versions, so that
// --check can catch drift: no timestamps, sorted listings, fixed transforms only.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

// Only the files a page loads. Source maps, ES-module builds, locales and duplicate images are left out.
// `thirdParty` collects the licences of the package's npm dependency closure for prebuilt bundles that
// inline their dependencies; `external` names dependencies the bundle expects as globals (vendored on
// their own), which are therefore not part of it; `leaves` are included without their own dependencies.
const MANIFEST = [
  {
    name: 'ol',
    files: { 'dist/ol.js': 'ol.js', 'ol.css': 'ol.css' },
    thirdParty: true,
  },
  { name: 'proj4', files: { 'dist/proj4.js': 'proj4.js' } },
  {
    name: 'echarts',
    files: { 'dist/echarts.min.js': 'echarts.min.js' },
    licenceFiles: ['LICENSE', 'NOTICE', 'licenses/LICENSE-d3'],
    thirdParty: true,
  },
  {
    name: 'leaflet',
    files: {
      'dist/leaflet.js': 'leaflet.js',
      'dist/leaflet.css': 'leaflet.css',
      'dist/images/layers.png': 'images/layers.png',
      'dist/images/layers-2x.png': 'images/layers-2x.png',
      'dist/images/marker-icon.png': 'images/marker-icon.png',
      'dist/images/marker-icon-2x.png': 'images/marker-icon-2x.png',
      'dist/images/marker-shadow.png': 'images/marker-shadow.png',
    },
  },
  {
    name: 'swagger-ui-dist',
    files: {
      'swagger-ui-bundle.js': 'swagger-ui-bundle.js',
      'swagger-ui-standalone-preset.js': 'swagger-ui-standalone-preset.js',
      'swagger-ui.css': 'swagger-ui.css',
      'favicon-16x16.png': 'favicon-16x16.png',
      'favicon-32x32.png': 'favicon-32x32.png',
    },
    licenceFiles: [
      'LICENSE',
      'NOTICE',
      'swagger-ui-bundle.js.LICENSE.txt',
      'swagger-ui-standalone-preset.js.LICENSE.txt',
    ],
  },
  // pygeoapi's HTML pages (mapserver/pygeoapi_templates/) use the libraries below.
  { name: 'bootstrap', files: { 'dist/css/bootstrap.min.css': 'bootstrap.min.css' } },
  {
    name: 'leaflet.markercluster',
    files: {
      'dist/leaflet.markercluster.js': 'leaflet.markercluster.js',
      'dist/MarkerCluster.css': 'MarkerCluster.css',
      'dist/MarkerCluster.Default.css': 'MarkerCluster.Default.css',
    },
  },
  {
    name: 'leaflet-draw',
    files: {
      'dist/leaflet.draw.js': 'leaflet.draw.js',
      'dist/leaflet.draw.css': 'leaflet.draw.css',
      'dist/images/spritesheet.png': 'images/spritesheet.png',
      'dist/images/spritesheet-2x.png': 'images/spritesheet-2x.png',
      'dist/images/spritesheet.svg': 'images/spritesheet.svg',
    },
    // The npm package ships no licence file; package.json says MIT and the holders are named in
    // the header of dist/leaflet.draw.js.
    licenceText: mit('Copyright (c) 2012-2017, Jacob Toye, Jon West, Smartrak, Leaflet'),
  },
  {
    name: 'leaflet.vectorgrid',
    files: { 'dist/Leaflet.VectorGrid.bundled.min.js': 'Leaflet.VectorGrid.bundled.min.js' },
    // No licence file in the package; the Beerware notice is at the end of its README.
    licenceFromReadme: /"THE BEER-WARE LICENSE":[\s\S]*?buy me a beer in return\./,
    thirdParty: true,
    external: ['leaflet'],
  },
  {
    name: 'leaflet-coverage',
    files: {
      'leaflet-coverage.min.js': 'leaflet-coverage.min.js',
      'leaflet-coverage.css': 'leaflet-coverage.css',
    },
    thirdParty: true,
    external: ['leaflet', 'c3', 'd3', 'covutils'],
  },
  {
    name: 'covutils',
    files: { 'covutils.min.js': 'covutils.min.js' },
    thirdParty: true,
    // topojson 1.x is a command-line tool as well; the bundle takes only its browser part, not the
    // dependencies of its CLI.
    leaves: ['topojson'],
  },
  {
    name: 'covjson-reader',
    files: { 'covjson-reader.min.js': 'covjson-reader.min.js' },
    thirdParty: true,
    external: ['covutils'],
  },
  { name: 'c3', files: { 'c3.min.js': 'c3.min.js', 'c3.min.css': 'c3.min.css' } },
  // d3's dist bundle is made of the d3-* modules, all under the same BSD licence as d3 itself.
  { name: 'd3', files: { 'dist/d3.min.js': 'd3.min.js' } },
  // the console's video player (video points): Chromium plays HLS only through Media Source Extensions
  { name: 'hls.js', files: { 'dist/hls.min.js': 'hls.min.js' } },
];

const LICENCE_NAMES = [
  'LICENSE', 'LICENSE.md', 'LICENSE.txt', 'LICENCE', 'LICENCE.md', 'LICENCE.txt',
  'MIT-LICENSE', 'MIT-LICENSE.md', 'MIT-LICENSE.txt', 'MIT-LICENCE.txt', 'license', 'license.md',
];

function mit(holder) {
  return `The MIT License (MIT)

${holder}

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
`;
}

function parseArgs(argv) {
  const args = {
    modules: path.join(here, 'node_modules'),
    out: path.join(root, 'app', 'static', 'vendor'),
  };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i];
    if ((key === '--modules' || key === '--out') && argv[i + 1]) {
      args[key.slice(2)] = path.resolve(argv[++i]);
    } else {
      throw new Error(`unknown argument ${key}; usage: vendor.mjs [--modules DIR] [--out DIR]`);
    }
  }
  return args;
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

// Node's lookup order: the requiring package's own node_modules, then each parent's.
function resolvePackage(name, fromDir, modulesRoot) {
  let dir = fromDir;
  for (;;) {
    const candidate = path.join(dir, 'node_modules', name);
    if (fs.existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (dir === path.dirname(modulesRoot) || dir === path.dirname(dir)) break;
    dir = path.dirname(dir);
  }
  const top = path.join(modulesRoot, name);
  return fs.existsSync(path.join(top, 'package.json')) ? top : null;
}

function licenceFileOf(pkgDir) {
  const found = LICENCE_NAMES.find((n) => fs.existsSync(path.join(pkgDir, n)));
  return found ? path.join(pkgDir, found) : null;
}

// Files that the browser would otherwise try to fetch (*.map) are not vendored; drop the pointer to them.
function transform(rel, buf) {
  if (!/\.(js|css)$/.test(rel)) return buf;
  const text = buf.toString('utf8');
  const stripped = text.replace(/\n?(\/\/# sourceMappingURL=[^\n]*|\/\*# sourceMappingURL=[^*]*\*\/)\s*$/, '\n');
  return Buffer.from(stripped, 'utf8');
}

function thirdPartyLicences(entry, pkgDir, modulesRoot) {
  const skip = new Set([entry.name, ...(entry.external || [])]);
  const leaves = new Set(entry.leaves || []);
  const seen = new Map();
  const queue = [pkgDir];
  while (queue.length) {
    const dir = queue.shift();
    const deps = Object.keys(readJson(path.join(dir, 'package.json')).dependencies || {});
    for (const dep of deps.sort()) {
      if (skip.has(dep) || dep.startsWith('@types/')) continue;
      const depDir = resolvePackage(dep, dir, modulesRoot);
      if (!depDir) continue; // an optional dependency that npm did not install
      const meta = readJson(path.join(depDir, 'package.json'));
      const key = `${meta.name}@${meta.version}`;
      if (seen.has(key)) continue;
      seen.set(key, depDir);
      if (!leaves.has(dep)) queue.push(depDir);
    }
  }
  const parts = [];
  for (const key of [...seen.keys()].sort()) {
    const depDir = seen.get(key);
    const meta = readJson(path.join(depDir, 'package.json'));
    const file = licenceFileOf(depDir);
    const text = file ? fs.readFileSync(file, 'utf8').trim() : `(no licence file in the package; package.json: ${meta.license})`;
    parts.push(`${'='.repeat(78)}\n${key} (${meta.license || 'unknown'})\n${'='.repeat(78)}\n${text}\n`);
  }
  if (!parts.length) return null;
  return `Licences of the npm dependencies of ${entry.name} that its prebuilt bundle may include.\n\n${parts.join('\n')}`;
}

function vendorPackage(entry, modulesRoot, outRoot, pinned) {
  const pkgDir = path.join(modulesRoot, entry.name);
  const meta = readJson(path.join(pkgDir, 'package.json'));
  if (meta.version !== pinned) {
    throw new Error(`${entry.name}: installed ${meta.version} but package.json pins ${pinned}; run npm ci`);
  }
  const outDir = path.join(outRoot, entry.name);
  for (const [src, dest] of Object.entries(entry.files)) {
    const target = path.join(outDir, dest);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, transform(dest, fs.readFileSync(path.join(pkgDir, src))));
  }

  const licences = [];
  if (entry.licenceText) {
    fs.writeFileSync(path.join(outDir, 'LICENSE'), entry.licenceText);
    licences.push('LICENSE');
  } else if (entry.licenceFromReadme) {
    const match = fs.readFileSync(path.join(pkgDir, 'README.md'), 'utf8').match(entry.licenceFromReadme);
    if (!match) throw new Error(`${entry.name}: licence notice not found in README.md`);
    fs.writeFileSync(path.join(outDir, 'LICENSE'), `${match[0]}\n`);
    licences.push('LICENSE');
  } else {
    const names = entry.licenceFiles || [path.basename(licenceFileOf(pkgDir) || '')];
    for (const name of names) {
      const src = path.join(pkgDir, name);
      if (!name || !fs.existsSync(src)) throw new Error(`${entry.name}: licence file ${name || '(none)'} missing`);
      fs.copyFileSync(src, path.join(outDir, path.basename(name)));
      licences.push(path.basename(name));
    }
  }
  if (entry.thirdParty) {
    const text = thirdPartyLicences(entry, pkgDir, modulesRoot);
    if (text) {
      fs.writeFileSync(path.join(outDir, 'THIRD-PARTY-LICENSES.txt'), text);
      licences.push('THIRD-PARTY-LICENSES.txt');
    }
  }
  return { name: entry.name, version: meta.version, licence: meta.license, files: licences };
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const pinned = readJson(path.join(here, 'package.json')).dependencies;
  const listed = new Set(MANIFEST.map((e) => e.name));
  const unlisted = Object.keys(pinned).filter((n) => !listed.has(n));
  const unpinned = [...listed].filter((n) => !(n in pinned));
  if (unlisted.length || unpinned.length) {
    throw new Error(`package.json and vendor.mjs disagree: not vendored ${unlisted}; not pinned ${unpinned}`);
  }
  for (const [name, range] of Object.entries(pinned)) {
    if (!/^\d+\.\d+\.\d+$/.test(range)) throw new Error(`${name}: pin an exact version, not ${range}`);
  }

  fs.rmSync(args.out, { recursive: true, force: true });
  fs.mkdirSync(args.out, { recursive: true });
  const rows = MANIFEST.map((e) => vendorPackage(e, args.modules, args.out, pinned[e.name]))
    .sort((a, b) => a.name.localeCompare(b.name));

  const width = Math.max(...rows.map((r) => r.name.length));
  const lines = [
    '# Front-end libraries vendored by scripts/vendor-assets.sh from frontend/package-lock.json.',
    '# Do not edit files here by hand: change frontend/package.json, re-run the script, commit the result.',
    '# Changes from the npm files: trailing sourceMappingURL comments removed (the maps are not vendored).',
    '# package  version  licence  licence files',
    ...rows.map((r) => `${r.name.padEnd(width)}  ${r.version.padEnd(8)}  ${r.licence.padEnd(12)}  ${r.files.join(' ')}`),
  ];
  fs.writeFileSync(path.join(args.out, 'VERSIONS.txt'), `${lines.join('\n')}\n`);
  console.log(`vendored ${rows.length} packages into ${path.relative(process.cwd(), args.out) || '.'}`);
}

main();
