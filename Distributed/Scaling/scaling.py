"""Scaling on paper: a ring all-reduce of the gradients for the MLP 784-1024-1024-10 and the
digits CNN on 2 to 256 nodes, at 10, 25 and 100 Gb/s. Prints the README's tables.

Model of a step: compute (per-sample time x samples on the node) followed by the all-reduce,
no overlap. A ring all-reduce of S bytes on N nodes sends and receives 2 (N - 1) / N x S bytes
per node in 2 (N - 1) messages, each paying the latency ALPHA:
    t_comm = 2 (N - 1) / N x S / bandwidth + 2 (N - 1) x ALPHA
"""

ALPHA = 5e-6  # seconds per message of the ring (TCP over Ethernet: 5-20 us; RDMA: 1-3 us)
NODES = [2, 4, 8, 16, 32, 64, 128, 256]
LINKS = {"10 Gb/s": 10e9 / 8, "25 Gb/s": 25e9 / 8, "100 Gb/s": 100e9 / 8}

# name: (parameters, seconds per sample on one node of 2 cores, batch)
MODELS = {
    "MLP 784-1024-1024-10": (784 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 10 + 10,
                             1 / 20344, 256),
    "digits CNN": (1 * 16 * 9 + 16 + 16 * 32 * 9 + 32 + 512 * 10 + 10, 0.5 / (1438 * 30), 32),
}


def communication(size_bytes, nodes, bandwidth):
    return 2 * (nodes - 1) / nodes * size_bytes / bandwidth + 2 * (nodes - 1) * ALPHA


for name, (parameters, per_sample, batch) in MODELS.items():
    size = 4 * parameters
    print(f"\n{name}: {parameters:,} parameters, {size:,} bytes of gradients; "
          f"{per_sample * 1e6:.1f} us per sample on a node; batch {batch}")
    for mode in ("fixed global batch", "fixed batch per rank"):
        print(f"\n{mode} {batch}: bytes sent per node per step, communication time per step "
              "(share of the step)\n")
        print("| nodes | bytes sent | compute | " + " | ".join(LINKS) + " |")
        print("|---|---|---|" + "---|" * len(LINKS))
        largest = {link: None for link in LINKS}
        for nodes in NODES:
            compute = per_sample * (batch / nodes if mode == "fixed global batch" else batch)
            cells = []
            for link, bandwidth in LINKS.items():
                comm = communication(size, nodes, bandwidth)
                share = comm / (comm + compute)
                if share < 0.2:
                    largest[link] = nodes
                cells.append(f"{comm * 1e3:.3f} ms ({share:.0%})")
            sent = 2 * (nodes - 1) / nodes * size
            print(f"| {nodes} | {sent / 1e6:.2f} MB | {compute * 1e3:.3f} ms | "
                  + " | ".join(cells) + " |")
        print("\nlargest node count with communication under 20% of a step: "
              + ", ".join(f"{link}: {nodes or 'none'}" for link, nodes in largest.items()))
