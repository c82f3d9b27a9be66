"""Which int8 ONNX weight width a CPU gets: 8 bits where onnxruntime's kernels keep them exact, else 7."""

from fer_edge.cpu import cpu_flags, onnx_weight_bits
from fer_edge.manifest import Artifact, Manifest


def test_cpu_flags_come_from_cpuinfo_and_are_empty_without_it(tmp_path):
    x86 = tmp_path / "x86"
    x86.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2 avx512_vnni\n\nflags\t: other\n")
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd asimddp\nCPU part\t: 0xd08\n")
    assert cpu_flags(x86) == {"fpu", "sse2", "avx2", "avx512_vnni"}
    assert cpu_flags(arm) == {"fp", "asimd", "asimddp"}
    assert cpu_flags(tmp_path / "absent") == set()


def test_eight_bits_only_where_the_int8_kernels_do_not_saturate():
    assert onnx_weight_bits("aarch64", set()) == 8  # arm64: no pairwise int16 saturation
    assert onnx_weight_bits("arm64", set()) == 8
    assert onnx_weight_bits("x86_64", {"avx2", "avx512_vnni"}) == 8
    assert onnx_weight_bits("AMD64", {"avx2", "avx_vnni"}) == 8
    assert onnx_weight_bits("x86_64", {"avx2", "avx512f", "avx512bw"}) == 7  # AVX2/AVX-512 without VNNI
    assert onnx_weight_bits("x86_64", set()) == 7  # flags unknown: the safe width
    assert onnx_weight_bits("riscv64", {"avx512_vnni"}) == 7
    assert onnx_weight_bits() in (7, 8)  # this machine


def _artifact(file, format="onnx", precision="int8", bits=None):
    return Artifact(file, format, "encoder", precision, "", 0, [], [], {}, bits)


def test_the_manifest_gives_the_width_asked_for_or_this_cpus(monkeypatch):
    import fer_edge.manifest

    files = [_artifact("encoder_int8.onnx", bits=7), _artifact("encoder_int8w8.onnx", bits=8)]
    files += [_artifact("encoder_int8.tflite", format="tflite"), _artifact("encoder_float32.onnx", precision="float32")]
    manifest = Manifest(1, [], 3, [48, 48, 1], {}, files, {}, {}, {}, {}, {})
    assert manifest.artifact("onnx", "encoder", "int8", weight_bits=7).file == "encoder_int8.onnx"
    assert manifest.artifact("onnx", "encoder", "int8", weight_bits=8).file == "encoder_int8w8.onnx"
    for bits in (7, 8):
        monkeypatch.setattr(fer_edge.manifest, "onnx_weight_bits", lambda bits=bits: bits)
        assert manifest.artifact("onnx", "encoder", "int8").weight_bits == bits
    assert manifest.artifact("tflite", "encoder", "int8").file == "encoder_int8.tflite"
    assert manifest.artifact("onnx", "encoder", "float32").file == "encoder_float32.onnx"
    assert manifest.artifact("tflite", "encoder", "int8", weight_bits=8) is None  # no such file
    older = Manifest(1, [], 3, [48, 48, 1], {}, [_artifact("encoder_int8.onnx")], {}, {}, {}, {}, {})
    assert older.artifact("onnx", "encoder", "int8").file == "encoder_int8.onnx"  # bundles before the field
