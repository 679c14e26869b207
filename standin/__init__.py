"""The simulation that ships with the product: a stand-in cloud on 127.0.0.1 speaking the real wire
protocols, scripted answers, and synthesized voices. ``scripts/run`` uses it where there is no Pi or no
API key; the tests drive the same code.
"""
