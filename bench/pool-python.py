"""bench/pool.ts's Python contenders: multiprocessing.Pool and
concurrent.futures.ProcessPoolExecutor with 2 workers, timed in-process.
Usage: python pool-python.py CONTENDER CASE COUNT; prints items per second."""
import sys
import time
import multiprocessing
import concurrent.futures

import numpy


def twice(x):
    return x * 2


def total(a):
    return float(a.sum())


def main():
    contender, case, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    fn = twice if case == "tiny" else total
    array = numpy.ones(131072)  # 1 MiB of float64
    # distinct arrays: one array many times in a list is pickled once per
    # chunk (pickle's memo), which measured 13k "arrays"/s for Pool.map
    inputs = range(count) if case == "tiny" else [array.copy() for _ in range(count)]
    if contender == "ppe":
        with concurrent.futures.ProcessPoolExecutor(2) as pool:
            list(pool.map(fn, [0, 1] if case == "tiny" else [array, array]))  # the workers are up
            start = time.perf_counter()
            results = list(pool.map(fn, inputs))
            elapsed = time.perf_counter() - start
    else:
        with multiprocessing.Pool(2) as pool:
            pool.map(fn, [0, 1] if case == "tiny" else [array, array])
            start = time.perf_counter()
            if contender == "mp-imap":
                results = list(pool.imap(fn, inputs, chunksize=1))
            else:
                results = pool.map(fn, inputs)
            elapsed = time.perf_counter() - start
    assert len(results) == count
    print(count / elapsed)


if __name__ == "__main__":
    main()
