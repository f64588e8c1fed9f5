"""Wire protocols: Dynamixel Protocol 2.0 and Feetech SCS/STS packets, and their parsers."""
