"""Compiles a .proto with Debian's /usr/bin/protoc (no protobuf Bazel rules offline)."""

def system_cc_proto_library(name, src, deps = [], visibility = None):
    """C++ library `name` built from one .proto file in the current package."""
    base = src[:-len(".proto")]
    native.genrule(
        name = name + "_protoc",
        srcs = [src],
        outs = [base + ".pb.h", base + ".pb.cc"],
        # Run from the workspace root so the generated #include paths are workspace-relative.
        cmd = "/usr/bin/protoc --proto_path=. --cpp_out=$(GENDIR) $(location " + src + ")",
    )
    native.cc_library(
        name = name,
        srcs = [base + ".pb.cc"],
        hdrs = [base + ".pb.h"],
        deps = deps + ["@system//:protobuf"],
        visibility = visibility,
    )
