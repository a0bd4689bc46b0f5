print("slipwayd")
