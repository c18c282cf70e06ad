import pytest
import torch

from nfp_lib import torch_backend
from nfp_lib.bench import train_step_flops
from nfp_lib.config import ModelConfig
from nfp_lib.gpu_profile import conv_flops, kernel_kind
from nfp_lib.torch_backend import fast


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("sm90_xmma_fprop_implicit_gemm_bf16bf16_bf16f32_f32_nhwckrsc_nhwc", "convolution"),
        ("void cudnn::cnn::wgrad2d_grouped_direct_kernel<true, true, int>", "convolution"),
        ("void cudnn::bn_bw_1C11_kernel_new<float, float, float2, 512>", "norm"),
        ("triton_poi_fused__native_batch_norm_legit_functional_convolution_mul", "fused"),
        ("void nhwcAddPaddingKernel<__nv_bfloat16, __nv_bfloat16, float>", "layout"),
        ("void at::native::(anonymous namespace)::CatArrayBatchedCopy<OpaqueType<2u>>", "copy"),
        ("void at::native::vectorized_elementwise_kernel<8, sigmoid_kernel_cuda>", "elementwise"),
        ("void at::native::multi_tensor_apply_kernel<FusedAdamMathFunctor>", "optimizer"),
        ("Memset (Device)", "other"),
    ],
)
def test_kernel_kind(name, kind):
    assert kernel_kind(name) == kind


def test_conv_flops_counts_forward_and_backward_convolutions():
    """About three times the forward pass's multiply-adds, twice over: what train_step_flops
    estimates for the ConvLSTM layers (the first frame's zero state needs no input gradient)."""
    config = ModelConfig(filters=(8, 8), kernel_sizes=(3, 3), norm="none", head_kernel_size=1)
    torch.manual_seed(0)
    model = torch_backend.build_model(config)
    optimizer = torch.optim.Adam(model.parameters())
    x = torch.rand(2, 6, 1, 16, 16)
    step = fast.train_step(
        model, optimizer, torch.nn.functional.mse_loss, x, x, bf16=False, cuda_graph=False
    )
    counted = conv_flops(step, x, x)
    estimate = train_step_flops(config, batch=2, frames=6, size=16)
    assert 0.85 * estimate < counted < 1.15 * estimate
