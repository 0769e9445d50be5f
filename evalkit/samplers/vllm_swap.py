"""Runs inside vLLM's worker processes (engine argument worker_extension_cls): load another
checkpoint's weights into the running model, for the resident engine of a sweep (evalkit/sweep.py).

vLLM's own in-place reload (Worker.reload_weights, the RL weight-update path) reloads and re-processes
every layer the checkpoint has tensors for. A layer whose weight is tied to another's (lm_head tied
to embed_tokens when tie_word_embeddings is set) receives no tensor of its own, so it is not
re-processed: on GPU it reads the shared weight and is right, but vLLM's CPU build packs a copy of
each matmul weight for oneDNN when weights are processed, and the tied lm_head would keep computing
logits with the previous checkpoint's packed copy. Layers that keep their weight next to a packed
copy are therefore re-packed from the weight after every reload (on CPU only; elsewhere a no-op).
"""

from __future__ import annotations


class WeightSwap:
    """Mixed into vLLM's worker class; called by name through LLM.collective_rpc."""

    def evalkit_load_checkpoint(self, path: str) -> int:
        """Load `path`'s weights in place; returns how many packed CPU weights were rebuilt."""
        self.reload_weights(weights_path=path, is_checkpoint_format=True)
        return repack_cpu_weights(self.model_runner.get_model())


def repack_cpu_weights(model) -> int:
    """Rebuild the oneDNN / packed copy of every CPU matmul weight that is kept beside its packed copy
    (embeddings and lm_heads, tied or not), from the weight as it is now."""
    import torch
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        return 0
    from vllm.model_executor.layers.utils import dispatch_cpu_unquantized_gemm

    rebuilt = 0
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if hasattr(module, "cpu_linear") and isinstance(weight, torch.Tensor) and weight.ndim == 2 and weight.numel() > 0:
            dispatch_cpu_unquantized_gemm(module, remove_weight=False)
            rebuilt += 1
    return rebuilt
