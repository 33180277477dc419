"""One fuzz target = a libFuzzer binary under --config=fuzz and a replay test in the normal suite.

Each target's source defines only LLVMFuzzerTestOneInput. Built with --config=fuzz (clang,
-fsanitize=fuzzer,address,undefined) it links libFuzzer's main and fuzzes; in the normal gcc
build it links replay_main.cc instead, which feeds it the files named on its command line.
The `<name>_regression` sh_test runs that replay binary over the target's seed corpus and every
kept crash input (fuzz/regressions/<name>/), so a fixed crash stays fixed in `bazel test //...`.
"""

def quantbench_fuzz_target(name, srcs, deps = [], seeds = []):
    native.cc_binary(
        name = name,
        srcs = srcs,
        deps = deps + select({
            "//fuzz:libfuzzer": [],
            "//conditions:default": ["//fuzz:replay_main"],
        }),
        linkopts = select({
            "//fuzz:libfuzzer": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
    )
    inputs = native.glob(["corpus/%s/*" % name, "regressions/%s/*" % name]) + seeds
    native.sh_test(
        name = name + "_regression",
        size = "small",
        srcs = ["//fuzz:replay_test.sh"],
        args = ["$(location :%s)" % name] + ["$(locations %s)" % f for f in inputs],
        data = [":" + name] + inputs,
    )
