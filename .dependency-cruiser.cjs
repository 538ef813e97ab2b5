// npm run depcruise — import rules of src/ (part of `npm run check`).
// Layer order, arrows point at what a layer may import:
//   commands → cli → app → {deploy, image, render, host} → store → util
// A layer may import any layer below it (not only the next one) and its own folder; nothing
// imports a layer above it, and there are no import cycles.
const layers = ['commands', 'cli', 'app', '(deploy|image|render|host)', 'store', 'util'];
const names = { '(deploy|image|render|host)': 'deploy|image|render|host' };
const label = (l) => (names[l] ?? l).replace(/\|/g, '/');
const above = (i) =>
  layers
    .slice(0, i)
    .map((l) => names[l] ?? l)
    .join('|');

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle: split the shared part into a module both can import.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    ...layers.slice(1).map((l, k) => ({
      name: `layer-${label(l).replace(/\//g, '-')}-upward`,
      severity: 'error',
      comment: `src/${label(l)} may not import a layer above it (${above(k + 1).replace(/\|/g, ', ')}): the order is commands → cli → app → {deploy, image, render, host} → store → util. Move the shared piece down, or pass it in as a parameter/type.`,
      from: { path: `^src/${l}/` },
      to: { path: `^src/(${above(k + 1)})/` },
    })),
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve.',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js', '.json'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
