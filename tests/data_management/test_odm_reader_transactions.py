"""Issue 13 item 9: the ODM reader keeps every repeat key and applies TransactionType in document order."""

from __future__ import annotations

from trials.interop.odm_reader import odm_read

DOC = b"""<?xml version="1.0" encoding="UTF-8"?>
<ODM xmlns="http://www.cdisc.org/ns/odm/v1.3" FileType="Transactional" FileOID="F.1" CreationDateTime="2026-01-01T00:00:00"
     ODMVersion="1.3.2">
  <Study OID="ST.X">
    <GlobalVariables><StudyName>X</StudyName><StudyDescription>x</StudyDescription><ProtocolName>X</ProtocolName></GlobalVariables>
    <MetaDataVersion OID="MDV.1" Name="v1"/>
  </Study>
  <ClinicalData StudyOID="ST.X" MetaDataVersionOID="MDV.1">
    <SubjectData SubjectKey="S1" TransactionType="Insert">
      <StudyEventData StudyEventOID="SE.CYCLE" StudyEventRepeatKey="1">
        <FormData FormOID="F.AE" FormRepeatKey="1">
          <ItemGroupData ItemGroupOID="IG.AE" ItemGroupRepeatKey="1"><ItemData ItemOID="I.TERM" Value="Burn"/></ItemGroupData>
          <ItemGroupData ItemGroupOID="IG.AE" ItemGroupRepeatKey="2"><ItemData ItemOID="I.TERM" Value="Fever"/></ItemGroupData>
          <ItemGroupData ItemGroupOID="IG.AE" ItemGroupRepeatKey="3"><ItemData ItemOID="I.TERM" Value="Rash"/></ItemGroupData>
        </FormData>
        <FormData FormOID="F.AE" FormRepeatKey="2">
          <ItemGroupData ItemGroupOID="IG.AE" ItemGroupRepeatKey="1"><ItemData ItemOID="I.TERM" Value="Nausea"/></ItemGroupData>
        </FormData>
      </StudyEventData>
      <StudyEventData StudyEventOID="SE.CYCLE" StudyEventRepeatKey="2">
        <FormData FormOID="F.VS"><ItemGroupData ItemGroupOID="IG.VS"><ItemData ItemOID="I.PAIN"
        Value="3"/></ItemGroupData></FormData>
      </StudyEventData>
    </SubjectData>
    <SubjectData SubjectKey="S2" TransactionType="Insert">
      <StudyEventData StudyEventOID="SE.CYCLE"><FormData FormOID="F.VS"><ItemGroupData ItemGroupOID="IG.VS">
        <ItemData ItemOID="I.PAIN" Value="9"/></ItemGroupData></FormData></StudyEventData>
    </SubjectData>
  </ClinicalData>
  <ClinicalData StudyOID="ST.X" MetaDataVersionOID="MDV.1">
    <SubjectData SubjectKey="S1" TransactionType="Context">
      <StudyEventData StudyEventOID="SE.CYCLE" StudyEventRepeatKey="1" TransactionType="Context">
        <FormData FormOID="F.AE" FormRepeatKey="1" TransactionType="Context">
          <ItemGroupData ItemGroupOID="IG.AE" ItemGroupRepeatKey="1" TransactionType="Update">
            <ItemData ItemOID="I.TERM" Value="Skin burn" TransactionType="Update"/></ItemGroupData>
          <ItemGroupData ItemGroupOID="IG.AE" ItemGroupRepeatKey="2" TransactionType="Remove"/>
          <ItemGroupData ItemGroupOID="IG.AE" ItemGroupRepeatKey="3" TransactionType="Context">
            <ItemData ItemOID="I.TERM" Value="ignored" TransactionType="Context"/></ItemGroupData>
        </FormData>
      </StudyEventData>
      <StudyEventData StudyEventOID="SE.CYCLE" StudyEventRepeatKey="2" TransactionType="Context">
        <FormData FormOID="F.VS" TransactionType="Context"><ItemGroupData ItemGroupOID="IG.VS" TransactionType="Context">
          <ItemData ItemOID="I.PAIN" TransactionType="Remove"/></ItemGroupData></FormData>
      </StudyEventData>
    </SubjectData>
    <SubjectData SubjectKey="S2" TransactionType="Remove"/>
  </ClinicalData>
</ODM>"""


def test_repeat_keys_are_kept_and_transactions_applied_in_order():
    document = odm_read(DOC)
    assert [s.key for s in document.subjects] == ["S1"] and document.removed_subjects == ["S2"]
    (subject,) = document.subjects
    live = {(v.event_repeat, v.form_repeat, v.group_repeat): v.value for v in subject.values if v.item_oid == "I.TERM"}
    # Update applied, Remove applied, Context changed nothing, the second FormRepeatKey kept apart
    assert live == {("1", "1", "1"): "Skin burn", ("1", "1", "3"): "Rash", ("1", "2", "1"): "Nausea"}
    assert subject.value_of("I.PAIN") is None  # removed in the second transaction
    assert subject.value_of("I.TERM", group_repeat="3") == "Rash"
