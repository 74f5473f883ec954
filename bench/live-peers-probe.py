#!/usr/bin/env python3
"""live-peers-probe: the writer and the slave-side poller of bench/live-peers.sh.

  live-peers-probe.py lag MASTER_DIR SLAVE_DIR [options]
      NFILES small files, one of them rewritten in place every PERIOD_MS;
      the lag of update n is the time from just before its write until the
      slave copy of that file holds update n or a later one, complete
      (a superseded update counts as delivered by its successor).
  live-peers-probe.py append MASTER_FILE SLAVE_FILE [options]
      a file kept open by its writer gets CHUNK bytes appended every
      PERIOD_MS for DURATION_S seconds, then is closed; the lag of append k
      is the time until the slave copy holds bytes [0, end of k) equal to
      what was written.

Both poll the slave side every POLL_MS and give up DRAIN_S seconds after
the last write; updates not seen by then are counted as missing.  The
result is one line of key=value pairs on stdout (times in ms).
"""
import argparse
import os
import sys
import time


def now():
    return time.monotonic()


def pct(sorted_vals, missing, q):
    """q-quantile over delivered + missing values, missing sort last."""
    n = len(sorted_vals) + missing
    if n == 0:
        return "nan"
    i = max(0, min(n - 1, int(n * q + 0.5) - 1))
    if i >= len(sorted_vals):
        return "inf"
    return "%.1f" % (sorted_vals[i] * 1000)


def report(kind, lags, missing, extra=""):
    v = sorted(lags)
    print("%s n=%d missing=%d med_ms=%s p99_ms=%s max_ms=%s%s" % (
        kind, len(v) + missing, missing, pct(v, missing, 0.5),
        pct(v, missing, 0.99), pct(v, missing, 1.0), extra))
    sys.stdout.flush()


def next_tick(tick, poll):
    """Sleep until tick + poll; a late wake-up does not shorten the next."""
    tick += poll
    d = tick - now()
    if d > 0:
        time.sleep(d)
    return max(tick, now())


def content(k, n, size, same_size):
    """Update n of file k: size bytes plus n % 8 unless same_size.

    rsync's quick check (the peers' default) skips a file whose size and
    mtime in whole seconds are unchanged, so same-size rewrites within one
    second stay stale on the slave until the file changes again; varying
    the size measures the lag itself, same_size shows that staleness."""
    if not same_size:
        size += n % 8
    head = ("file %d update %d\n" % (k, n)).encode()
    body = (b"%d." % n) * (size // 2)
    return (head + body)[:size - 1] + b"\n"


def read_or_none(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def parse_update(data, k, size, same_size):
    """The update number the slave copy of file k holds, or -1."""
    if not data:
        return -1
    line = data.split(b"\n", 1)[0].split()
    if len(line) != 4 or line[0] != b"file" or line[1] != str(k).encode():
        return -1
    try:
        n = int(line[3])
    except ValueError:
        return -1
    return n if data == content(k, n, size, same_size) else -1


def write_file(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def run_lag(a):
    names = ["small%02d" % k for k in range(a.nfiles)]
    m = [os.path.join(a.master, x) for x in names]
    s = [os.path.join(a.slave, x) for x in names]
    # update numbers start at 1; 0 is the initial content, which the tool
    # must have copied before the measurement starts
    for k in range(a.nfiles):
        write_file(m[k], content(k, 0, a.size, a.same_size))
    end = now() + a.ready_s
    while any(parse_update(read_or_none(s[k]), k, a.size, a.same_size) < 0 for k in range(a.nfiles)):
        if now() > end:
            print("lag error=initial-files-not-copied-in-%ds" % a.ready_s)
            return 1
        time.sleep(0.05)
    pending = [[] for _ in range(a.nfiles)]   # (n, t_write) per file
    seen = [0] * a.nfiles
    lags = []
    period, poll = a.period_ms / 1000.0, a.poll_ms / 1000.0
    t0 = now()
    next_write, n, tick = t0, 0, t0
    stop_writing = t0 + a.duration_s
    deadline = None
    while True:
        t = now()
        if deadline is None and t >= next_write:
            if t >= stop_writing:
                deadline = t + a.drain_s
            else:
                n += 1
                k = n % a.nfiles
                pending[k].append((n, t))
                write_file(m[k], content(k, n, a.size, a.same_size))
                next_write += period
                if next_write < now():          # the writer fell behind
                    next_write = now()
        for k in range(a.nfiles):
            if not pending[k]:
                continue
            got = parse_update(read_or_none(s[k]), k, a.size, a.same_size)
            if got > seen[k]:
                seen[k] = got
                t = now()
                while pending[k] and pending[k][0][0] <= got:
                    lags.append(t - pending[k].pop(0)[1])
        if deadline is not None and (not any(pending) or now() > deadline):
            break
        tick = next_tick(tick, poll)
    report("lag", lags, sum(len(p) for p in pending),
           " writes=%d write_s=%.1f" % (n, min(now(), stop_writing) - t0))
    return 0


def run_append(a):
    # the file exists (empty) on both sides before the first append
    write_file(a.master, b"")
    end = now() + a.ready_s
    while not os.path.exists(a.slave):
        if now() > end:
            print("append error=empty-file-not-copied-in-%ds" % a.ready_s)
            return 1
        time.sleep(0.05)
    written = bytearray()
    ends = []             # (end offset, t_write) of appends not yet seen
    lags = []
    verified = 0
    period, poll = a.period_ms / 1000.0, a.poll_ms / 1000.0
    fd = os.open(a.master, os.O_WRONLY | os.O_APPEND)
    t0 = now()
    next_write, tick = t0, t0
    stop_writing = t0 + a.duration_s
    deadline = None
    nappends = 0
    while True:
        t = now()
        if deadline is None and t >= next_write:
            if t >= stop_writing:
                os.close(fd)
                fd = -1
                deadline = t + a.drain_s
            else:
                chunk = os.urandom(a.chunk)
                ends.append((len(written) + len(chunk), t))
                os.write(fd, chunk)
                written += chunk
                nappends += 1
                next_write += period
                if next_write < now():
                    next_write = now()
        if ends:
            try:
                size = min(os.stat(a.slave).st_size, len(written))
            except OSError:
                size = 0
            if size > verified:
                try:
                    with open(a.slave, "rb") as f:
                        f.seek(verified)
                        got = f.read(size - verified)
                except OSError:
                    got = b""
                if len(got) == size - verified and got == written[verified:size]:
                    verified = size
                    t = now()
                    while ends and ends[0][0] <= verified:
                        lags.append(t - ends.pop(0)[1])
        if deadline is not None and (not ends or now() > deadline):
            break
        tick = next_tick(tick, poll)
    if fd >= 0:
        os.close(fd)
    report("append", lags, len(ends), " appends=%d appended_bytes=%d" % (nappends, len(written)))
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["lag", "append"])
    p.add_argument("master")
    p.add_argument("slave")
    p.add_argument("--nfiles", type=int, default=10)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--same-size", action="store_true")
    p.add_argument("--chunk", type=int, default=4096)
    p.add_argument("--period-ms", type=float, default=20)
    p.add_argument("--duration-s", type=float, default=20)
    p.add_argument("--poll-ms", type=float, default=2)
    p.add_argument("--drain-s", type=float, default=60)
    p.add_argument("--ready-s", type=int, default=60)
    a = p.parse_args()
    return run_lag(a) if a.mode == "lag" else run_append(a)


if __name__ == "__main__":
    sys.exit(main())
