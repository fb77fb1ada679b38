"""A local vision-language model answering image prompts: the ``transformers`` backend of the
pairs job's synthetic captions (``pipelines/steps/images/recaption.py``).

``LocalVlm(path)`` loads an Idefics2 / Idefics3 checkpoint folder with its ``tokenizer.json``
(what ``vlmdata train --export`` writes; SmolVLM and Idefics3 checkpoints have the same layout)
on the GPU when there is one (bf16) or the CPU, and lays out each prompt as training does
(``training.processor``: ``User:<image>prompt<end_of_utterance>\\nAssistant:``). ``answer``
generates for many (image, prompt) requests, ``batch_size`` at a time, prompts left-padded so
that all continue from their last token; greedy at temperature 0, else sampled with top-p, the
batch's random generator seeded from its first request's seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import AutoConfig

from training.evaluate import answer_prompt
from training.model import CLASSES
from training.packing import collate
from training.processor import Processor, image_seq_len
from training.tokenizer import load_tokenizer, special_ids


class LocalVlm:
    def __init__(
        self, path: str, batch_size: int = 8, max_image_size: int | None = None, device: str | None = None
    ):
        config = AutoConfig.from_pretrained(path)
        if config.model_type not in CLASSES:
            raise ValueError(f"{path}: model_type {config.model_type!r}; expected idefics2 or idefics3")
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        self.model = CLASSES[config.model_type].from_pretrained(path, dtype=dtype).to(self.device).eval()
        self.tokenizer = load_tokenizer(path)
        self.ids = special_ids(self.tokenizer)
        vision = self.model.config.vision_config
        self.processor = Processor(
            self.tokenizer, self.ids, vision.image_size, image_seq_len(self.model.config),
            max_image_size or vision.image_size, 1 << 16, image_splitting=max_image_size is not None,
            arch=config.model_type, patch_size=vision.patch_size,
        )  # fmt: skip
        self.batch_size = batch_size

    @torch.no_grad()
    def answer(
        self,
        requests: Sequence[tuple[bytes, str, int]],
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        top_p: float = 1.0,
    ) -> list[str]:
        """The answer to each (image bytes, prompt, seed), in order."""
        out: list[str] = []
        for start in range(0, len(requests), self.batch_size):
            chunk = requests[start : start + self.batch_size]
            prompts = [
                answer_prompt(
                    self.processor,
                    {
                        "kind": "qa",
                        "texts": [{"user": prompt, "assistant": "x", "source": ""}],
                        "images": ["000.img"],
                    },
                    {"000.img": image},
                )
                for image, prompt, _ in chunk
            ]
            longest = max(len(p.input_ids) for p in prompts)
            input_ids = torch.full((len(chunk), longest), self.ids.pad, dtype=torch.long)
            attention = torch.zeros((len(chunk), longest), dtype=torch.long)
            for row, prompt in enumerate(prompts):  # left padding: every prompt ends at the last column
                input_ids[row, longest - len(prompt.input_ids) :] = torch.tensor(prompt.input_ids)
                attention[row, longest - len(prompt.input_ids) :] = 1
            pixels = collate([[p] for p in prompts], longest, self.ids.pad)
            generator_seed = chunk[0][2]
            torch.manual_seed(generator_seed)
            generated = self.model.generate(
                input_ids=input_ids.to(self.device),
                attention_mask=attention.to(self.device),
                pixel_values=pixels["pixel_values"].to(self.device, self.model.dtype),
                pixel_attention_mask=pixels["pixel_attention_mask"].to(self.device),
                max_new_tokens=max_new_tokens,
                do_sample=temperature > 0,
                temperature=temperature if temperature > 0 else None,
                top_p=top_p if temperature > 0 else None,
                eos_token_id=[self.ids.end_of_utterance, self.ids.eos],
                pad_token_id=self.ids.pad,
                suppress_tokens=sorted(self.ids.never_predicted),  # no image placeholders in a caption
                use_cache=True,
            )
            for row in generated[:, longest:].tolist():
                stop = next(
                    (i for i, t in enumerate(row) if t in (self.ids.end_of_utterance, self.ids.eos)), len(row)
                )
                out.append(self.tokenizer.decode(row[:stop]).strip())
        return out
