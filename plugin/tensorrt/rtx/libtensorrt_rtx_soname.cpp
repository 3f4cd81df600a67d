// libtensorrt_rtx_soname.cpp - deliberately empty: the library built from it only carries a name.
//
// TensorRT for RTX's ONNX parser dlopens "libtensorrt_rtx.so" when it imports a plugin node, but
// the PyPI wheel ships only libtensorrt_rtx.so.1; without the bare name the parser throws out of a
// noexcept function and the process dies in std::terminate. This library has the SONAME
// libtensorrt_rtx.so and depends on libtensorrt_rtx.so.1. Loaded after TensorRT for RTX (the
// sortpool tooling does that), the dynamic loader answers the parser's dlopen with it by SONAME,
// and dlsym on it finds the real library's symbols through its dependency: the one copy of
// TensorRT for RTX already in the process, never a second one.
