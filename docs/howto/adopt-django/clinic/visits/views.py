import json

from django.db import transaction
from django.http import HttpRequest, JsonResponse

from aura.integrations.django import module_services
from clinic.contracts import VisitBooked
from clinic.visits.models import Visit


def book_visit(request: HttpRequest) -> JsonResponse:
    body = json.loads(request.body)
    visits = module_services("visits")
    if not visits.get("patients", "PatientDirectory").is_registered(body["patient_id"]):
        return JsonResponse({"detail": "no such patient"}, status=404)
    with transaction.atomic():  # the visit and its event commit together, or neither
        visit = Visit.objects.create(patient_id=body["patient_id"], fee_cents=body["fee_cents"])
        visits.publish(VisitBooked(visit.pk, visit.patient_id, visit.fee_cents))
    return JsonResponse({"visit_id": visit.pk}, status=201)
