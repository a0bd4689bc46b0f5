"""Where a stored delivery's time goes inside slipwayd's store, read from its /metrics.

Usage: store_breakdown.py METRICS_FILE

Prints, for the group commit (`slipway_delivery_group_*`) and the log sync
(`slipway_store_*`), the number of observations, the mean, and the bucket bounds that
hold the median and the 99th percentile (Prometheus histograms keep buckets, not
samples, so a percentile is known only to lie at or below a bucket's bound).
"""
import collections
import re
import sys

ORDER = [
    ("slipway_delivery_group_size", "deliveries per group transaction", ""),
    ("slipway_delivery_group_wait_seconds", "a delivery's wait for its group's write to start", "us"),
    ("slipway_delivery_group_write_seconds", "a group's write, up to its commit", "us"),
    ("slipway_delivery_group_durable_wait_seconds", "a group's wait from commit to durable", "us"),
    ("slipway_store_sync_seconds", "one fdatasync of the log", "us"),
    ("slipway_store_commits_per_sync", "commits made durable by one sync", ""),
]

sums, counts, buckets = {}, {}, collections.defaultdict(list)
for line in open(sys.argv[1]):
    match = re.match(r"(slipway_\w+?)(_sum|_count|_bucket)(\{[^}]*\})? ([0-9.e+-]+|\+Inf)$", line.strip())
    if not match:
        continue
    name, kind, labels, value = match.group(1), match.group(2), match.group(3) or "", float(match.group(4))
    if kind == "_sum":
        sums[name] = value
    elif kind == "_count":
        counts[name] = value
    else:
        bound = re.search(r'le="([^"]+)"', labels).group(1)
        buckets[name].append((float("inf") if bound == "+Inf" else float(bound), value))


def bound(name, share, scale):
    total = counts[name]
    for upper, seen in sorted(buckets[name]):
        if seen >= share * total:
            return "+Inf" if upper == float("inf") else "%g" % (upper * scale)
    return "?"


print("store breakdown (from /metrics):")
for name, meaning, unit in ORDER:
    if not counts.get(name):
        print("  %-44s no observations" % name)
        continue
    scale = 1e6 if unit == "us" else 1
    print("  %-44s n=%-7d mean %8.1f%s  p50 <= %s%s  p99 <= %s%s  (%s)" % (
        name, counts[name], sums[name] / counts[name] * scale, unit, bound(name, 0.5, scale), unit,
        bound(name, 0.99, scale), unit, meaning))
