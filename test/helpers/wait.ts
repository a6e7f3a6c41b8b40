import { setTimeout as sleep } from 'node:timers/promises';

/** Whether `condition` came true within `ms`, polled every 10 ms: tests wait for conditions, not for times. */
export async function until(condition: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}

/** Like until(), for a condition that has to ask something (rtorrent, a file): asked again 20 ms after each answer. */
export async function untilAnswered(condition: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
  return true;
}
