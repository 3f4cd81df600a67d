// trtVersion.h - what the TensorRT headers this library is compiled with offer. The library
// builds against TensorRT 8.6 to 11 headers (and TensorRT for RTX's); whatever the headers, it
// serves the runtimes docs/tensorrt.md lists.
#pragma once

#include <NvInferVersion.h>

// IPluginV3, IPluginCreatorInterface (getCreators), 64-bit dims and kINT64 fields: TensorRT 10.
#define SORTPOOL_TRT_HEADERS_HAVE_V3 (NV_TENSORRT_MAJOR >= 10)
// DataType::kBF16: TensorRT 9.
#define SORTPOOL_TRT_HEADERS_HAVE_BF16 (NV_TENSORRT_MAJOR >= 9)
