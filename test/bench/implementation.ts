// One load-balancer implementation as the side-by-side benchmark drives it: started on the lab's
// three nodes, its speakers signalled, restarted and measured, then stopped.
import { spawn } from "node:child_process";
import { createWriteStream, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { sleep, stopSpeaker, type Lab, type SpeakerProcess } from "../control/harness.ts";

export interface Implementation {
  readonly name: string;
  /** Installs its objects and pools, starts its processes; resolves once every speaker runs. */
  start(): Promise<void>;
  /** The running speaker of `node`. */
  speaker(node: string): SpeakerProcess;
  /** Starts `node`'s speaker again after it exited. */
  restartSpeaker(node: string): Promise<void>;
  /** Every process of its own (controllers included), for RSS and CPU. */
  processes(): SpeakerProcess[];
  /** Stops every process it started; the cluster objects stay (the caller deletes the Services). */
  stop(): Promise<void>;
}

/** What both implementations share: one speaker process per node, found, restarted and listed alike. */
export abstract class SpeakerFleet {
  abstract readonly name: string;
  protected readonly speakers = new Map<string, SpeakerProcess>();

  /** Starts `node`'s speaker and records it. */
  protected abstract launch(node: string): SpeakerProcess;

  speaker(node: string): SpeakerProcess {
    const s = this.speakers.get(node);
    if (!s) throw new Error(`no ${this.name} speaker on ${node}`);
    return s;
  }

  async restartSpeaker(node: string): Promise<void> {
    await expectRunning(this.launch(node), 500);
  }

  processes(): SpeakerProcess[] {
    return [...this.speakers.values()];
  }
}

/** Runs `argv` inside the node's namespace (`ip netns exec` execs it: the child's pid is the program's). */
export function spawnInNode(lab: Lab, node: string | undefined, logName: string, argv: string[], env: NodeJS.ProcessEnv): SpeakerProcess {
  const logDir = `/tmp/l2lb-${lab.id}-logs`;
  mkdirSync(logDir, { recursive: true });
  const logPath = join(logDir, `${logName}.log`);
  const out = createWriteStream(logPath, { flags: "a" });
  const cmd = node === undefined ? argv : ["ip", "netns", "exec", lab.ns(node), ...argv];
  const child = spawn(cmd[0] as string, cmd.slice(1), { env, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { node: node ?? "", child, logPath, exited };
}

/** Stops processes, continuing stopped ones first so that SIGTERM is delivered. */
export async function stopAll(procs: Iterable<SpeakerProcess>): Promise<void> {
  for (const p of procs) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGCONT");
    await stopSpeaker(p);
  }
}

/** Resident and peak memory (MB) and CPU seconds of a running process. */
export function usage(pid: number): { rssMb: number; peakMb: number; cpuS: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return { rssMb: kb("VmRSS") / 1024, peakMb: kb("VmHWM") / 1024, cpuS: (Number(stat[11]) + Number(stat[12])) / 100 };
}

/** Waits until the process has been up for `ms` without exiting; throws with its log's tail if it exits. */
export async function expectRunning(p: SpeakerProcess, ms: number): Promise<void> {
  const early = await Promise.race([p.exited.then((code) => ({ code })), sleep(ms).then(() => undefined)]);
  if (early) {
    const tail = readFileSync(p.logPath, "utf8").split("\n").slice(-15).join("\n");
    throw new Error(`${p.logPath}: exited with ${early.code} during start:\n${tail}`);
  }
}
