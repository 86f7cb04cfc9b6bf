/** Delegate network configuration as braid hands it to its delegates (SPEC.md section 1). */

/** One plugin entry of a conflist, or a whole single-plugin `.conf`. Unknown keys pass unchanged. */
export type PluginConf = Record<string, unknown> & {
  type: string;
  capabilities?: Record<string, boolean>;
};

export interface NetworkConfigList {
  /** Version of the list: max(cniVersion ∪ cniVersions), capped at 1.1.0 (I2). */
  cniVersion: string;
  name: string;
  disableCheck: boolean;
  disableGC: boolean;
  plugins: PluginConf[];
  /**
   * The exact bytes braid received for this network (a conf or a conflist). Stored unchanged in
   * the per-container cache so that DEL replays what ADD ran.
   */
  bytes: string;
}

/** A (containerID, ifname) pair as used by GC's `cni.dev/valid-attachments`. */
export interface Attachment {
  containerID: string;
  ifname: string;
}
