"""The patients module: who is a patient of the clinic, and who is in care."""

from aura import Module

module = Module("patients", description="The clinic's patients and their status.")
# Its service, PatientDirectory, is attached by PatientsConfig.ready() (services.py uses the
# models, which an app's __init__.py cannot import).
