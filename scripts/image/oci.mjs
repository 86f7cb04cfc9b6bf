// Writes one single-layer image as an OCI image layout inside a tar archive ("oci-archive"), the
// form `podman load`, `ctr images import` and `kind load image-archive` take. The layout is
// (image-layout.md of the OCI image spec):
//   oci-layout                      {"imageLayoutVersion": "1.0.0"}
//   index.json                      one manifest descriptor, named by two annotations
//   blobs/sha256/<hex>              the gzipped layer, the config JSON and the manifest JSON
// Names: `org.opencontainers.image.ref.name` is what podman (containers/image) names the image
// after; `io.containerd.image.name` is what containerd's importer does, and must be the fully
// qualified form kubelet asks for (braid:0.1.0 in a pod spec is docker.io/library/braid:0.1.0).
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { TarWriter } from './tar.mjs';

const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
};

const sha256 = (data) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** docker.io/library/<name> for a bare name, as kubelet and containerd normalise it. */
export function qualifiedName(ref) {
  const first = ref.split('/')[0];
  const hasRegistry = ref.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasRegistry) return ref;
  return ref.includes('/') ? `docker.io/${ref}` : `docker.io/library/${ref}`;
}

/**
 * @param {object} o
 * @param {Buffer} o.layerTar   the uncompressed layer
 * @param {string} o.name       e.g. braid:0.1.0
 * @param {Date} o.created
 * @param {object} o.config     the image's run config (Env, Cmd, Labels, ...)
 * @param {number} o.mtime      the archive's file times (seconds)
 * @param {number} [o.gzipLevel]
 * @returns {{ archive: Buffer, manifestDigest: string, layerSize: number }}
 */
export function ociArchive({ layerTar, name, created, config, mtime, gzipLevel = 9 }) {
  const layer = gzipSync(layerTar, { level: gzipLevel });
  const imageConfig = Buffer.from(
    JSON.stringify({
      created: created.toISOString(),
      architecture: 'amd64',
      os: 'linux',
      config,
      rootfs: { type: 'layers', diff_ids: [sha256(layerTar)] },
      history: [{ created: created.toISOString(), created_by: 'scripts/build-image.mjs (npm run image)' }],
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      config: { mediaType: MEDIA.config, digest: sha256(imageConfig), size: imageConfig.length },
      layers: [{ mediaType: MEDIA.layer, digest: sha256(layer), size: layer.length }],
    }),
  );
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.index,
      manifests: [
        {
          mediaType: MEDIA.manifest,
          digest: sha256(manifest),
          size: manifest.length,
          platform: { architecture: 'amd64', os: 'linux' },
          annotations: {
            'org.opencontainers.image.ref.name': name,
            'io.containerd.image.name': qualifiedName(name),
          },
        },
      ],
    }),
  );
  const tar = new TarWriter(mtime);
  tar.file('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
  tar.file('index.json', index);
  tar.dir('blobs');
  tar.dir('blobs/sha256');
  for (const blob of [layer, imageConfig, manifest])
    tar.file(`blobs/sha256/${sha256(blob).slice('sha256:'.length)}`, blob);
  return { archive: tar.toBuffer(), manifestDigest: sha256(manifest), layerSize: layer.length };
}
