"""The toy module's OGC API process: echoes its one input back."""

from __future__ import annotations

import copy
from typing import Any

from pygeoapi.process.base import BaseProcessor, ProcessorExecuteError

METADATA: dict[str, Any] = {
    "version": "1.0.0", "id": "toy-echo", "title": {"en": "Toy echo", "zh": "示例回声"},
    "description": {"en": "Returns its input 'text' unchanged."}, "jobControlOptions": ["sync-execute"],
    "keywords": ["onemap", "toy"], "links": [],
    "inputs": {"text": {"title": "Text", "description": "Any text.", "schema": {"type": "string"},
                        "minOccurs": 1, "maxOccurs": 1}},
    "outputs": {"echo": {"title": "Echo", "schema": {"type": "object", "contentMediaType": "application/json"}}},
    "example": {"inputs": {"text": "hi"}},
}


class ToyEchoProcessor(BaseProcessor):
    def __init__(self, processor_def: dict) -> None:
        super().__init__(processor_def, copy.deepcopy(METADATA))  # pygeoapi edits the metadata in place

    def execute(self, data: dict, outputs: dict | None = None) -> tuple[str, Any]:
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            raise ProcessorExecuteError("input 'text' (a string) is required")
        return "application/json", {"echo": data["text"]}
