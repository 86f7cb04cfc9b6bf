/**
 * The `yaml` package, loaded on first use: it costs tens of milliseconds to load, which a CNI
 * ADD that never reads YAML should not pay. Bundled as CommonJS, its named exports may sit under
 * `default`, so both shapes are accepted.
 */
type YamlModule = typeof import('yaml');

let loaded: YamlModule | undefined;

export async function loadYaml(): Promise<YamlModule> {
  if (!loaded) {
    const mod = (await import('yaml')) as YamlModule & { default?: YamlModule };
    loaded = typeof mod.parse === 'function' ? mod : mod.default!;
  }
  return loaded;
}
