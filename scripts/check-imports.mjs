#!/usr/bin/env node
// The import rule of braid's source, checked over the import graph (run by scripts/test.sh):
// every folder of `src` has a place in LAYERS below, and a file imports only files of its own folder
// or of folders below it; no two files import each other through any chain (file circles) and no two
// folders do (folder circles). Type-only and lazy `import()` imports count too: they are still a
// dependency a reader has to follow. It also prints the figures a reviewer asks about: the largest
// files and the longest functions.
//
//   node scripts/check-imports.mjs            report, exit 1 on an upward import, a circle or an unknown folder
//   node scripts/check-imports.mjs --report   report only, always exit 0 (for measuring an old tree)
//   node scripts/check-imports.mjs --root DIR  check another checkout
//
// Uses the TypeScript compiler's parser (already a devDependency), so `import type`, re-exports and
// `import('…')` are read the way tsc reads them.
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/**
 * Bottom to top. A folder may import only the folders listed before it. `cmd` (the entry files) is the
 * top. Adding a folder under src means giving it a place here.
 */
export const LAYERS = [
  'src/generated', // schema validators compiled from schemas/ (ajv only)
  'src/base', // errors and codes, defaults, atomic writer, tracing, assets, own-dir, schema-error text
  'src/net', // netlink, iproute2, namespaces, sysctl
  'src/bpf', // libbpf through koffi, maps, pins, tc/tcx
  'src/cni', // the CNI protocol: requests, results, netconf, conflists, delegate execution
  'src/k8s', // API objects, NAD directory, pod store, annotations
  'src/config', // braid's conf and delegate confs from NADs
  'src/log', // braid's log file and its rotation
  'src/cache', // the per-container attachment cache
  'src/policy', // MultiNetworkPolicy compile, datapath, reconcile
  'src/multiplex', // the meta-plugin: ADD/DEL/CHECK/GC/STATUS over delegates
  'src/veth', // braid-veth, the cluster-network plugin
  'src/agent', // the node agent
  'src/demo', // `braid demo`
  'src/cli', // braid's other commands
  'cmd', // entry files
];

const ROOTS = ['src', 'cmd'];
const TOP = 10;

function listFiles(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p));
    else if (/\.(ts|js)$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The layer a file belongs to: the longest LAYERS entry that is a prefix of its folder. */
function layerOf(file) {
  let best = -1;
  LAYERS.forEach((l, i) => {
    if ((file === l || file.startsWith(`${l}/`)) && (best < 0 || l.length > LAYERS[best].length)) best = i;
  });
  return best;
}

function resolveImport(from, spec, known) {
  if (!spec.startsWith('.')) return undefined; // a package, node:…
  const base = path.normalize(path.join(path.dirname(from), spec));
  for (const c of [base, base.replace(/\.js$/, '.ts'), `${base}.ts`, path.join(base, 'index.ts')]) {
    if (known.has(c)) return c;
  }
  const dts = base.replace(/\.js$/, '.d.ts');
  if (fs.existsSync(dts)) return base.endsWith('.js') && fs.existsSync(base) ? base : dts;
  return null;
}

const parsed = new Map();

/** A file's imports, exports, size and functions (parsed once per run). */
function readFile(file) {
  if (!parsed.has(file)) parsed.set(file, parseFile(file));
  return parsed.get(file);
}

function parseFile(file) {
  const text = fs.readFileSync(file, 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const specs = [];
  const functions = [];
  const lineOf = (pos) => sf.getLineAndCharacterOfPosition(pos).line + 1;
  const nameOf = (node) => {
    if (node.name && ts.isIdentifier(node.name)) return node.name.text;
    if (node.name) return node.name.getText(sf);
    const p = node.parent;
    if (p && ts.isVariableDeclaration(p) && ts.isIdentifier(p.name)) return p.name.text;
    if (p && ts.isPropertyAssignment(p)) return p.name.getText(sf);
    if (ts.isConstructorDeclaration(node)) return 'constructor';
    return '(anonymous)';
  };
  const exported = [];
  const uses = [];
  const elementNames = (elements) => elements.map((e) => (e.propertyName ?? e.name).text);
  for (const st of sf.statements) {
    const isExported =
      ts.canHaveModifiers(st) && ts.getModifiers(st)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    if (isExported && ts.isVariableStatement(st)) {
      for (const d of st.declarationList.declarations) if (ts.isIdentifier(d.name)) exported.push(d.name.text);
    } else if (isExported && st.name && ts.isIdentifier(st.name)) {
      exported.push(
        ts.getModifiers(st)?.some((m) => m.kind === ts.SyntaxKind.DefaultKeyword) ? 'default' : st.name.text,
      );
    } else if (ts.isExportDeclaration(st) && st.exportClause && ts.isNamedExports(st.exportClause)) {
      for (const e of st.exportClause.elements) exported.push(e.name.text);
    }
  }
  const visit = (node) => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      specs.push(node.moduleSpecifier.text);
      let names = [];
      if (ts.isImportDeclaration(node)) {
        const c = node.importClause;
        if (c?.name) names.push('default');
        if (c?.namedBindings && ts.isNamespaceImport(c.namedBindings)) names = '*';
        else if (c?.namedBindings) names.push(...elementNames(c.namedBindings.elements));
      } else {
        names =
          node.exportClause && ts.isNamedExports(node.exportClause) ? elementNames(node.exportClause.elements) : '*';
      }
      uses.push({ spec: node.moduleSpecifier.text, names });
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const a = node.arguments[0];
      if (a && ts.isStringLiteralLike(a)) {
        specs.push(a.text);
        uses.push({ spec: a.text, names: '*' });
      }
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      specs.push(node.argument.literal.text);
      const q = node.qualifier;
      uses.push({ spec: node.argument.literal.text, names: q && ts.isIdentifier(q) ? [q.text] : '*' });
    }
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = lineOf(node.getStart(sf));
      const end = lineOf(node.getEnd());
      functions.push({ name: nameOf(node), line: start, lines: end - start + 1 });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  const all = text.split('\n');
  const wide = all.filter((l) => l.length > 120).length;
  return { lines: all.length - (text.endsWith('\n') ? 1 : 0), wide, specs, functions, exported, uses };
}

/** Tarjan's strongly connected components; the ones with more than one member are circles. */
function circles(nodes, edges) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const on = new Set();
  const out = [];
  const strong = (v) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const c = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1 || (edges.get(v) ?? new Set()).has(v)) out.push(c.sort());
    }
  };
  for (const v of nodes) if (!idx.has(v)) strong(v);
  return out;
}

/** One shortest path around a circle, for the message. */
function loopThrough(members, edges) {
  const inside = new Set(members);
  const start = members[0];
  const prev = new Map([[start, null]]);
  const queue = [start];
  while (queue.length) {
    const v = queue.shift();
    for (const w of edges.get(v) ?? []) {
      if (!inside.has(w)) continue;
      if (w === start) {
        const pathBack = [v];
        for (let p = prev.get(v); p; p = prev.get(p)) pathBack.push(p);
        return [...pathBack.reverse(), start];
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return members;
}

export function analyse(root = process.cwd()) {
  const cwd = process.cwd();
  process.chdir(root);
  try {
    const files = ROOTS.filter((r) => fs.existsSync(r))
      .flatMap(listFiles)
      .sort();
    const known = new Set(files);
    const edges = new Map();
    const folderEdges = new Map();
    const upward = [];
    const unknown = [];
    const unresolved = [];
    const sizes = [];
    const fns = [];
    let edgeCount = 0;
    for (const f of files) {
      const { lines, wide, specs, functions } = readFile(f);
      sizes.push({ file: f, lines, wide });
      for (const fn of functions) fns.push({ ...fn, file: f });
      const from = layerOf(f);
      if (from < 0) unknown.push(f);
      const targets = new Set();
      for (const s of specs) {
        const t = resolveImport(f, s, known);
        if (t === undefined) continue;
        if (t === null) {
          unresolved.push(`${f}: ${s}`);
          continue;
        }
        targets.add(t);
      }
      edges.set(f, targets);
      for (const t of targets) {
        edgeCount++;
        const to = layerOf(t);
        if (from >= 0 && to > from) upward.push(`${f} -> ${t}  (${LAYERS[from]} is below ${LAYERS[to]})`);
        if (from >= 0 && to >= 0 && from !== to) {
          const a = LAYERS[from];
          if (!folderEdges.has(a)) folderEdges.set(a, new Set());
          folderEdges.get(a).add(LAYERS[to]);
        }
      }
    }
    const testFns = fs.existsSync('test')
      ? listFiles('test').flatMap((f) =>
          readFile(f)
            .functions.filter((fn) => fn.name !== '(anonymous)')
            .map((fn) => ({ ...fn, file: f })),
        )
      : [];
    testFns.sort((a, b) => b.lines - a.lines || a.file.localeCompare(b.file));
    // Exports no file imports (src, cmd, test and scripts count as importers): code nothing reaches,
    // or names that need not be exported. Reported, not enforced.
    const importers = [...files, ...['test', 'scripts'].filter((r) => fs.existsSync(r)).flatMap(listFiles)];
    const everyFile = new Set(importers);
    const used = new Map();
    for (const f of importers) {
      for (const u of readFile(f).uses) {
        const t = resolveImport(f, u.spec, everyFile);
        if (!t) continue;
        if (!used.has(t)) used.set(t, new Set());
        if (u.names === '*') used.get(t).add('*');
        else for (const n of u.names) used.get(t).add(n);
      }
    }
    const unusedExports = [];
    for (const f of files.filter((x) => !x.startsWith('cmd/') && !x.startsWith('src/generated/'))) {
      const u = used.get(f) ?? new Set();
      if (u.has('*')) continue;
      for (const name of readFile(f).exported) if (!u.has(name)) unusedExports.push(`${f}: ${name}`);
    }
    // One home for defaults: a path of src/base/defaults.ts written out anywhere else in src or cmd.
    const defaultsFile = 'src/base/defaults.ts';
    const strayDefaults = [];
    if (fs.existsSync(defaultsFile)) {
      const values = [...fs.readFileSync(defaultsFile, 'utf8').matchAll(/^\s+\w+: '(\/[^']+)',/gm)].map((m) => m[1]);
      for (const f of files.filter((x) => x !== defaultsFile && !x.startsWith('src/generated/'))) {
        const text = fs.readFileSync(f, 'utf8');
        for (const v of values)
          if (text.includes(`'${v}'`) || text.includes(`"${v}"`)) strayDefaults.push(`${f}: '${v}'`);
      }
    }
    const fileCircles = circles(files, edges).map((c) => loopThrough(c, edges));
    const folderCircles = circles(LAYERS, folderEdges).map((c) => loopThrough(c, folderEdges));
    sizes.sort((a, b) => b.lines - a.lines || a.file.localeCompare(b.file));
    fns.sort((a, b) => b.lines - a.lines || a.file.localeCompare(b.file));
    const src = sizes.filter((s) => s.file.startsWith('src/') && !s.file.startsWith('src/generated/'));
    return {
      files: files.length,
      edges: edgeCount,
      upward,
      unknown,
      unresolved,
      fileCircles,
      folderCircles,
      largest: sizes.filter((s) => !s.file.startsWith('src/generated/')).slice(0, TOP),
      over300: src.filter((s) => s.lines > 300).length,
      wideLines: src.reduce((n, s) => n + s.wide, 0),
      averageLines: Math.round(src.reduce((n, s) => n + s.lines, 0) / Math.max(1, src.length)),
      longest: fns.filter((f) => !f.file.startsWith('src/generated/')).slice(0, TOP),
      longestInTests: testFns.slice(0, 5),
      unusedExports,
      strayDefaults,
      over50: fns.filter((f) => !f.file.startsWith('src/generated/') && f.lines > 50).length,
    };
  } finally {
    process.chdir(cwd);
  }
}

function print(r) {
  const lines = [];
  lines.push(`layers, bottom to top: ${LAYERS.map((l) => l.replace(/^src\//, '')).join(' < ')}`);
  lines.push(`files: ${r.files}, import edges: ${r.edges}`);
  const list = (title, items) => {
    lines.push(`${title}: ${items.length}`);
    for (const i of items) lines.push(`  ${i}`);
  };
  list('upward imports', r.upward);
  list(
    'folder circles',
    r.folderCircles.map((c) => c.join(' -> ')),
  );
  list(
    'file circles',
    r.fileCircles.map((c) => c.join(' -> ')),
  );
  list('default paths written outside src/base/defaults.ts (use PATHS)', r.strayDefaults);
  if (r.unknown.length) list('files in a folder with no layer (add it to LAYERS)', r.unknown);
  if (r.unresolved.length) list('relative imports that name no file', r.unresolved);
  lines.push(
    `largest files (src average ${r.averageLines} lines, ${r.over300} over 300; ${r.wideLines} lines in src over 120 characters):`,
  );
  for (const s of r.largest) lines.push(`  ${String(s.lines).padStart(4)}  ${s.file}`);
  lines.push(`longest functions (${r.over50} over 50 lines):`);
  for (const f of r.longest) lines.push(`  ${String(f.lines).padStart(4)}  ${f.file}:${f.line} ${f.name}`);
  lines.push(`exports no file imports (reported, not enforced): ${r.unusedExports.length}`);
  for (const u of r.unusedExports) lines.push(`  ${u}`);
  lines.push('longest named functions in test/ (not part of the rule):');
  for (const f of r.longestInTests) lines.push(`  ${String(f.lines).padStart(4)}  ${f.file}:${f.line} ${f.name}`);
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('check-imports.mjs')) {
  const reportOnly = process.argv.includes('--report');
  const at = process.argv.indexOf('--root');
  const root =
    at > 0 ? path.resolve(process.argv[at + 1]) : path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
  const r = analyse(root);
  console.log(print(r));
  const bad =
    r.upward.length +
    r.fileCircles.length +
    r.folderCircles.length +
    r.unknown.length +
    r.unresolved.length +
    r.strayDefaults.length;
  if (bad > 0 && !reportOnly) {
    console.error(
      `check-imports: ${bad} problem(s): imports must point down the layers, with no circles; defaults live in src/base/defaults.ts`,
    );
    process.exit(1);
  }
}
