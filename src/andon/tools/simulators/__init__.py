"""Machines that are not there: a Sparkplug B edge node and a PackML cell served over OPC UA,
for the maintenance demo and the intake tests."""
