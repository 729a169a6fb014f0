"""Installing a render plan: RAM filesystem, generations, atomic switch, units, pruning."""
