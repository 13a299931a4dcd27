"""What control-plane handlers work with, injected once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from roost.frontend.code_links import CodeLinkSigner
from roost.functions.aliases import AliasRepository
from roost.functions.attachments import AttachmentRepository
from roost.functions.lifecycle import FunctionActivator
from roost.functions.repository import FunctionRepository
from roost.store.ports import CodeStore, ConfigStore


@dataclass(frozen=True)
class AccountLimits:
    """Per-account quotas (AWS defaults)."""

    concurrent_executions: int = 1000
    unreserved_concurrency_minimum: int = 100
    total_code_size_bytes: int = 80_530_636_800
    code_size_zipped_bytes: int = 52_428_800
    code_size_unzipped_bytes: int = 262_144_000


@dataclass(frozen=True)
class ControlPlane:
    """The repositories, stores and services the control-plane handlers share."""

    store: ConfigStore
    code: CodeStore
    functions: FunctionRepository
    aliases: AliasRepository
    attachments: AttachmentRepository
    activator: FunctionActivator
    limits: AccountLimits
    code_links: CodeLinkSigner

    @classmethod
    def build(
        cls, store: ConfigStore, code: CodeStore, limits: AccountLimits | None = None
    ) -> ControlPlane:
        """Wire the repositories over one config store."""
        functions = FunctionRepository(store)
        return cls(
            store=store,
            code=code,
            functions=functions,
            aliases=AliasRepository(store),
            attachments=AttachmentRepository(store),
            activator=FunctionActivator(functions, code),
            limits=limits or AccountLimits(),
            code_links=CodeLinkSigner(),
        )
