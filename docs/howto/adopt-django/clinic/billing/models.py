from django.db import models


class Invoice(models.Model):
    visit_id = models.IntegerField(unique=True)
    amount_cents = models.IntegerField()
