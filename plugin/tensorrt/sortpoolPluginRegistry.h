// sortpoolPluginRegistry.h - the creators this library offers.
#pragma once

#include "sortpoolTrtCommon.h"
#include "sortpool_trt_plugin.h"

namespace sortpool {
namespace trt {
// Version "2" (IPluginV3) always; version "1" (IPluginV2DynamicExt) only when the loaded TensorRT
// has the V2 ABI of the headers this library was compiled with. Stable, process-lifetime objects.
nvinfer1::IPluginCreatorInterface* const* creatorList(int32_t* count) noexcept;
nvinfer1::IPluginCreator* const* legacyCreatorList(int32_t* count) noexcept;
}  // namespace trt
}  // namespace sortpool
