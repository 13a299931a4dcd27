"""What control-plane handlers work with, injected once at start-up."""

from __future__ import annotations

from dataclasses import dataclass

from roost.frontend.code_links import CodeLinkSigner
from roost.functions.aliases import AliasRepository
from roost.functions.attachments import AttachmentRepository
from roost.functions.lifecycle import FunctionActivator
from roost.functions.package import MAX_UNZIPPED_BYTES, MAX_ZIPPED_BYTES
from roost.functions.repository import FunctionRepository
from roost.store.ports import CodeStore, ConfigStore


@dataclass(frozen=True)
class AccountLimits:
    """Per-account quotas (AWS defaults).

    The package sizes are those ``inspect_zip`` enforces by default (``package``
    defines them); the control plane passes these to it, so what GetAccountSettings
    reports is what uploads are held to.
    """

    concurrent_executions: int = 1000
    unreserved_concurrency_minimum: int = 100
    total_code_size_bytes: int = 80_530_636_800
    code_size_zipped_bytes: int = MAX_ZIPPED_BYTES
    code_size_unzipped_bytes: int = MAX_UNZIPPED_BYTES


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
