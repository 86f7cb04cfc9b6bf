import { ipInNetns } from './ip-in-netns.ts';

/**
 * Several iproute2 commands in one process (`ip -force -batch -`): the multi-step route changes
 * of `default-route`. Failed lines do not stop the batch but fail the call.
 */
export function ipBatchInNetns(
  netnsPath: string,
  lines: string[],
  timeoutMs = 10_000,
  family?: 4 | 6,
): Promise<string> {
  // Batch lines take no options such as -4/-6, and `route flush` without a family sees IPv4
  // only: a family is chosen for the whole batch.
  const familyOption = family ? [`-${family}`] : [];
  return ipInNetns(netnsPath, {
    args: [...familyOption, '-force', '-batch', '-'],
    input: `${lines.join('\n')}\n`,
    timeoutMs,
    what: 'change routes with ip -batch',
  });
}
