// sortedWeightedPoolCreators.h - the creators this library offers to the loaded TensorRT.
#pragma once

#include "sortedWeightedPoolShared.h"
#include "sortpool_trt_plugin.h"

namespace sortpool {
namespace trt {

// The creators for the TensorRT runtime in this process, as that runtime receives them (kV3: an
// IPluginCreatorInterface*; kV2: an IPluginCreator* of the headers, or for TensorRT 8.6/9.x an
// abi86::IPluginCreator*, whose IPluginCreator that runtime sees), by index: kV3 is version "2"
// (IPluginV3; TensorRT 10 and later), kV2 is version "1" (IPluginV2DynamicExt; the runtimes whose
// layout v2LayoutForRuntime knows). An entry is null where that version is not offered; when no
// TensorRT is loaded, the headers' layout is assumed. Process-lifetime objects.
enum CreatorIndex : int32_t { kV3 = 0, kV2 = 1, kCreatorCount = 2 };
void* const* offeredCreators() noexcept;

// The entry points' lists: the non-null entries of offeredCreators, kV3 first.
#if SORTPOOL_TRT_HEADERS_HAVE_V3
nvinfer1::IPluginCreatorInterface* const* creatorList(int32_t* count) noexcept;  // getCreators (TensorRT 10+)
#endif
nvinfer1::IPluginCreator* const* legacyCreatorList(int32_t* count) noexcept;       // getPluginCreators

}  // namespace trt
}  // namespace sortpool
