/*
 * test_bench_combine.c - `ipcx bench --repeat N` folds N passes of the same
 * cells into one: each figure the median of the passes, the max latency
 * the largest, sample and message counts summed, a cell that failed in any
 * pass failed (bench_combine, report.c).
 */
#include "bench.h"
#include "harness.h"

static struct bench_result ok_cell(double p50, double max, double rate, long verified)
{
	return (struct bench_result){.status = BENCH_OK,
				     .lat = {.samples = 10, .p50 = p50, .p99 = 2 * p50,
					     .p999 = 3 * p50, .max = max},
				     .msgs_per_s = rate,
				     .mb_per_s = rate / 1e6,
				     .verified = verified};
}

/* Three passes of two cells: cell 0 always ok, cell 1 failed in the middle pass. */
static void test_three_passes(void)
{
	struct bench_result r[6] = {
	    ok_cell(5, 50, 300, 1), ok_cell(1, 10, 10, 1),
	    ok_cell(1, 90, 100, 2), {.status = BENCH_FAILED, .why = "timed out"},
	    ok_cell(3, 70, 200, 4), ok_cell(1, 10, 10, 1),
	};
	bench_combine(r, 2, 3);
	CHECK(r[0].status == BENCH_OK);
	CHECK(r[0].lat.p50 == 3 && r[0].lat.p99 == 6 && r[0].lat.p999 == 9);
	CHECK(r[0].lat.max == 90 && r[0].lat.samples == 30);
	CHECK(r[0].msgs_per_s == 200 && r[0].verified == 7);
	CHECK(r[1].status == BENCH_FAILED && strcmp(r[1].why, "timed out") == 0);
}

/* An even number of passes: the median is the mean of the middle two. */
static void test_two_passes(void)
{
	struct bench_result r[2] = {ok_cell(2, 20, 100, 1), ok_cell(4, 10, 300, 1)};
	bench_combine(r, 1, 2);
	CHECK(r[0].lat.p50 == 3 && r[0].msgs_per_s == 200 && r[0].lat.max == 20);
}

static const struct test_case tests[] = {
	{"three_passes", test_three_passes},
	{"two_passes", test_two_passes},
};

int main(int argc, char **argv)
{
	return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
