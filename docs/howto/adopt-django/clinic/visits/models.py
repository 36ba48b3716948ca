from django.db import models


class Visit(models.Model):
    patient_id = models.IntegerField()  # the patients module's id, not a foreign key
    fee_cents = models.IntegerField()
