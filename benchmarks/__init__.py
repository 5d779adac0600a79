"""The measured claims of colearn-chain: gas per operation and chain throughput (run as scripts)."""
