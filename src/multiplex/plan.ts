import { CniCode, CniError } from '../base/errors.ts';
import { mergeCniArgs } from '../cni/args.ts';
import type { NetworkConfigList } from '../cni/netconf.ts';
import type { NetworkSelectionElement } from '../k8s/types.ts';
import { rewritePlugins } from './conf-rewrite.ts';
import { CNI_DEVICE_INFO_FILE, cniDeviceInfoPath, dpDeviceInfoPath } from './device-info.ts';
import type { Plan, PlanInputs, PlannedAttachment, ResolvedNetwork } from './plan-types.ts';

/**
 * Turns resolved networks into the ordered attachment list: ifnames, CNI_ARGS, runtimeConfig
 * and default-route choices. Pure: no I/O, so `braid validate` can print it and tests can check
 * it without a kernel.
 */
export function buildPlan(inputs: PlanInputs): Plan {
  const secondaries = [...inputs.defaultNetworks, ...inputs.selected];
  // v1.multus-cni.io/default-network may name the interface (`@ifname`) and add cni-args, as in Multus.
  const clusterSel = inputs.cluster.selection;
  const clusterIfname = clusterSel?.interface ?? inputs.ifname;
  const ifnames = assignIfnames(clusterIfname, secondaries);
  const attachments: PlannedAttachment[] = [
    {
      index: 0,
      network: inputs.cluster.network,
      origin: inputs.cluster.origin,
      ifname: clusterIfname,
      isDefault: true,
      list: withPodArgs(inputs.cluster.list, clusterSel?.['cni-args'], undefined, inputs.cluster.origin),
      cniArgs: inputs.args,
      // Multus merges the default-network element's requests (ips, mac, ...) over the runtime's too.
      capabilityArgs: { ...inputs.runtimeConfig, ...selectionCapabilities(clusterSel) },
    },
  ];
  secondaries.forEach((net, i) => {
    const index = i + 1;
    attachments.push(planSecondary(net, index, ifnames[i]!, inputs));
  });
  if (inputs.auxiliary) {
    // After everything else (Multus' order), chained onto the cluster interface.
    attachments.push({
      index: attachments.length,
      network: inputs.auxiliary.network,
      origin: inputs.auxiliary.origin,
      ifname: clusterIfname,
      isDefault: false,
      list: inputs.auxiliary.list,
      cniArgs: inputs.args,
      capabilityArgs: {},
      auxiliary: true,
    });
  }
  return {
    containerId: inputs.containerId,
    netns: inputs.netns,
    pod: inputs.pod,
    attachments,
    warnings: inputs.compat?.warnings ?? [],
  };
}

/**
 * `net<position>` as Multus numbers them, or the requested name. Requested names must be
 * unique; a generated name that a request already took moves on to the next free number.
 */
function assignIfnames(clusterIfname: string, networks: ResolvedNetwork[]): string[] {
  const requested = new Map<string, string>();
  requested.set(clusterIfname, 'the cluster network');
  networks.forEach((net) => {
    const name = net.selection?.interface;
    if (!name) return;
    const holder = requested.get(name);
    if (holder) {
      throw new CniError(
        CniCode.InvalidConfig,
        `interface name "${name}" is requested for network ${net.network} but is already used by ${holder}`,
      );
    }
    requested.set(name, `network ${net.network}`);
  });
  const taken = new Set(requested.keys());
  return networks.map((net, i) => {
    if (net.selection?.interface) return net.selection.interface;
    let n = i + 1;
    while (taken.has(`net${n}`)) n++;
    const name = `net${n}`;
    taken.add(name);
    return name;
  });
}

/** Capability keys a selection element fills, as NPWG maps them. */
function selectionCapabilities(sel: NetworkSelectionElement | undefined, deviceId?: string): Record<string, unknown> {
  const caps: Record<string, unknown> = {};
  if (sel?.ips?.length) caps.ips = sel.ips;
  if (sel?.mac) caps.mac = sel.mac;
  if (sel?.portMappings?.length) caps.portMappings = sel.portMappings;
  if (sel?.bandwidth) caps.bandwidth = sel.bandwidth;
  if (sel?.['infiniband-guid']) caps.infinibandGUID = sel['infiniband-guid'];
  // Multus: the device plugin's ID wins over the annotation's deviceID.
  const device = deviceId ?? sel?.deviceID;
  if (device) caps.deviceID = device;
  return caps;
}

/**
 * NPWG: a request for ips, mac, ... MUST fail unless some plugin of the network declares it.
 * Multus skips that check (libcni just does not pass the key) and also sends IP=/MAC= in
 * CNI_ARGS; braid does the same, with a warning, unless `strict`. Returns the keys undeclared.
 */
function undeclaredCapabilities(net: ResolvedNetwork, caps: Record<string, unknown>, inputs: PlanInputs): Set<string> {
  const undeclared = new Set<string>();
  for (const key of Object.keys(caps)) {
    if (key === 'deviceID') continue;
    const declared = net.list.plugins.some((p) => p.capabilities?.[key] === true);
    if (declared) continue;
    const problem = `the pod asks for "${key}" but no plugin of its configuration declares capabilities.${key}: true`;
    if (!inputs.compat || inputs.compat.strict)
      throw new CniError(CniCode.InvalidConfig, `network ${net.network}: ${problem}`);
    const legacy = key === 'ips' ? ' and as IP= in CNI_ARGS' : key === 'mac' ? ' and as MAC= in CNI_ARGS' : '';
    inputs.compat.accept(
      `network ${net.network} "${key}"`,
      problem,
      `passed on as runtimeConfig (plugins that declare it only)${legacy}`,
    );
    undeclared.add(key);
  }
  return undeclared;
}

function planSecondary(net: ResolvedNetwork, index: number, ifname: string, inputs: PlanInputs): PlannedAttachment {
  const deviceId = inputs.deviceIds?.get(index);
  const caps = selectionCapabilities(net.selection, deviceId);
  const undeclared = undeclaredCapabilities(net, caps, inputs);
  // Multus writes only the device plugin's ID into the conf (deviceID, pciBusID); an annotation's
  // deviceID reaches the delegate as runtimeConfig only.
  const list = withPodArgs(net.list, net.selection?.['cni-args'], deviceId, net.origin);
  // Multus also passes a requested MAC the legacy way (sriov-cni, macvlan and tuning read it).
  // It does the same with IP=, which braid sends only where no plugin takes runtimeConfig.ips:
  // host-local would otherwise get each address twice (CNI_ARGS and runtimeConfig) and refuse the second.
  const legacy: [string, string][] = typeof caps.mac === 'string' ? [['MAC', caps.mac]] : [];
  if (undeclared.has('ips')) legacy.push(['IP', (caps.ips as string[]).join(',')]);
  const cniArgs = mergeCniArgs(inputs.args, [['IgnoreUnknown', '1'], ...legacy]);
  const attachment: PlannedAttachment = {
    index,
    network: net.network,
    origin: net.origin,
    ifname,
    isDefault: false,
    list,
    cniArgs,
    capabilityArgs: caps,
  };
  if (net.selection?.['default-route']) attachment.defaultRoute = net.selection['default-route'];
  if (typeof caps.deviceID === 'string') {
    attachment.deviceId = caps.deviceID;
    if (inputs.deviceInfoDir) {
      caps[CNI_DEVICE_INFO_FILE] = cniDeviceInfoPath(inputs.deviceInfoDir, net.network, inputs.containerId, ifname);
      if (net.resourceName)
        attachment.dpDeviceInfoFile = dpDeviceInfoPath(inputs.deviceInfoDir, net.resourceName, caps.deviceID);
    }
  }
  return attachment;
}

/** `cni-args` become each plugin's `args.cni` (the pod's values win); a device ID is also put in the conf. */
function withPodArgs(
  list: NetworkConfigList,
  cniArgs: Record<string, unknown> | undefined,
  deviceId: string | undefined,
  origin: string,
): NetworkConfigList {
  if (!cniArgs && !deviceId) return list;
  return rewritePlugins(list, origin, (plugin) => {
    if (cniArgs) {
      const args = (plugin.args ?? {}) as Record<string, unknown>;
      const cni = (args.cni ?? {}) as Record<string, unknown>;
      plugin.args = { ...args, cni: { ...cni, ...cniArgs } };
    }
    if (deviceId) {
      plugin.deviceID = deviceId;
      plugin.pciBusID = deviceId;
    }
  });
}
