#!/usr/bin/env python3
"""Cost of Temporal payload encryption (``tideflow.platform.payload_codec``) per payload.

For a typical 2 KB payload (a small node input) and a 500 KB one (a document's extracted
text): the median of many encode + decode round trips through ``EncryptionCodec``, next to
the pydantic converter's own JSON encoding of the same value for scale. Prints one JSON object.

    uv run python bench/payload_codec.py [--rounds 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

from temporalio.contrib.pydantic import pydantic_data_converter

from tideflow.platform.payload_codec import EncryptionCodec


def _value(size: int) -> dict[str, str]:
    return {"text": ("lorem ipsum dolor sit amet " * (size // 27 + 1))[:size]}


async def _measure(size: int, rounds: int) -> dict[str, float | int]:
    codec = EncryptionCodec("bench-secret-key", ["an-old-key"])
    [payload] = pydantic_data_converter.payload_converter.to_payloads([_value(size)])
    codec_us: list[float] = []
    json_us: list[float] = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        sealed = await codec.encode([payload])
        opened = await codec.decode(sealed)
        t1 = time.perf_counter()
        pydantic_data_converter.payload_converter.to_payloads([_value(size)])
        t2 = time.perf_counter()
        assert opened == [payload]
        codec_us.append((t1 - t0) * 1e6)
        json_us.append((t2 - t1) * 1e6)
    return {
        "payload_bytes": payload.ByteSize(),
        "sealed_bytes": codec.seal(payload).ByteSize(),
        "rounds": rounds,
        "encode_decode_median_us": round(statistics.median(codec_us), 1),
        "encode_decode_p95_us": round(statistics.quantiles(codec_us, n=20)[18], 1),
        "json_encode_median_us": round(statistics.median(json_us), 1),
    }


def main() -> None:
    """Measure both sizes and print the report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    report = {
        "2KB": asyncio.run(_measure(2 * 1024, args.rounds)),
        "500KB": asyncio.run(_measure(500 * 1024, max(50, args.rounds // 10))),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
