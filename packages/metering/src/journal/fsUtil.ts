import * as fs from "node:fs";
import * as path from "node:path";

/** Makes a directory entry change (create, rename, unlink) durable. @internal */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, "r");
    fs.fsyncSync(fd);
  } catch (err) {
    // Some platforms (Windows) can't open or fsync directories; there is nothing more to do.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EISDIR" && code !== "EPERM" && code !== "EINVAL") throw err;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Writes all of `buf` at `position`, looping over short writes. @internal */
export function writeFully(fd: number, buf: Buffer, position: number): void {
  let off = 0;
  while (off < buf.length) {
    const n = fs.writeSync(fd, buf, off, buf.length - off, position + off);
    if (n <= 0) throw Object.assign(new Error("short write"), { code: "EIO" });
    off += n;
  }
}

/**
 * Writes a file durably and atomically: temp file (created with `mode`, default 0o666 less
 * the umask), fsync, rename, directory fsync. The one atomic write of maaskit. @internal
 */
export function writeFileAtomic(file: string, data: Buffer | string, mode?: number): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  const fd = fs.openSync(tmp, "w", mode);
  try {
    writeFully(fd, typeof data === "string" ? Buffer.from(data) : data, 0);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  fsyncDir(dir);
}

/**
 * Renames a superseded file aside (`<file>.migrated`, then `.migrated-1`, …; never deleted
 * nor overwritten) and makes the rename durable. Returns the new name. @internal
 */
export function renameAside(file: string): string {
  let target = `${file}.migrated`;
  for (let n = 1; fs.existsSync(target); n++) target = `${file}.migrated-${n}`;
  fs.renameSync(file, target);
  fsyncDir(path.dirname(file));
  return target;
}
