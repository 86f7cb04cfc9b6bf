// Child process of log-rotation.test.ts: appends numbered lines to one log file while other
// children do the same. Run by Node 24 directly (type stripping), not by vitest.
import { appendLogLine, type RotationPolicy } from '../../../src/log/log-rotation.ts';

const [file, writer, count, startAt, pauseMs, policyJson] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string,
];
const policy = JSON.parse(policyJson) as RotationPolicy;
const lines = Number(count);
const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

// Start together, so that the writers really overlap.
while (Date.now() < Number(startAt)) sleep(1);
for (let i = 0; i < lines; i++) {
  // A pause longer than the settle time, so that the second half's rotations compress the
  // first half's backups while the other writers keep writing and rotating.
  if (i === lines / 2) sleep(Number(pauseMs));
  appendLogLine(file, `writer-${writer} line-${i} ${'x'.repeat(i % 50)}\n`, policy);
}
