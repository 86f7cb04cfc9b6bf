/** Placeholder until the demo lands. */
export async function runDemo(_opts: { keep: boolean }): Promise<void> {
  throw new Error('the demo is not written yet');
}
