"""The invoke data plane (sync and async invokes); its handlers plug into its router."""
