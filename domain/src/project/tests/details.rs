//! What may change at any open stage: people, académies, establishments, details, visibility.

use super::*;

#[test]
fn holders_are_added_and_removed_in_any_open_state() {
    for history in [submitted(), qualifying(), active(), paused()] {
        let added = E::ProjectHolderAdded {
            person: person(1),
            role: text("Principale adjointe"),
            affiliation: Some(text("Collège Jean-Moulin")),
        };
        let state = given::<Project>(history.clone())
            .when(C::AddHolder {
                person: person(1),
                role: text("Principale adjointe"),
                affiliation: Some(text("Collège Jean-Moulin")),
            })
            .then([added.clone()]);
        assert_eq!(state.holders[&person(1)].role.as_str(), "Principale adjointe");
        let state = given::<Project>(then(history, [added]))
            .when(C::RemoveHolder { person: person(1) })
            .then([E::ProjectHolderRemoved { person: person(1) }]);
        assert!(state.holders.is_empty());
    }
}

#[test]
fn a_holder_is_added_once_and_removed_if_present() {
    let with_holder =
        then(active(), [E::ProjectHolderAdded { person: person(1), role: text("Porteuse"), affiliation: None }]);
    given::<Project>(with_holder)
        .when(C::AddHolder { person: person(1), role: text("Co-porteuse"), affiliation: None })
        .then_rejects("project.holder_already_added");
    given::<Project>(active()).when(C::RemoveHolder { person: person(1) }).then_rejects("project.holder_not_found");
}

#[test]
fn referents_are_assigned_once() {
    given::<Project>(qualifying())
        .when(C::AssignReferent { person: person(2) })
        .then([E::ProjectReferentAssigned { person: person(2) }]);
    given::<Project>(then(qualifying(), [E::ProjectReferentAssigned { person: person(2) }]))
        .when(C::AssignReferent { person: person(2) })
        .then_rejects("project.referent_already_assigned");
}

#[test]
fn academies_are_linked_once_and_one_always_remains() {
    let state = given::<Project>(active())
        .when(C::LinkAcademie { code: aca("24") })
        .then([E::ProjectAcademieLinked { code: aca("24") }]);
    assert_eq!(state.academies.len(), 2);
    given::<Project>(active())
        .when(C::LinkAcademie { code: aca("01") })
        .then_rejects("project.academie_already_linked");
    given::<Project>(then(active(), [E::ProjectAcademieLinked { code: aca("24") }]))
        .when(C::UnlinkAcademie { code: aca("01") })
        .then([E::ProjectAcademieUnlinked { code: aca("01") }]);
    given::<Project>(active()).when(C::UnlinkAcademie { code: aca("24") }).then_rejects("project.academie_not_linked");
    let r = given::<Project>(active())
        .when(C::UnlinkAcademie { code: aca("01") })
        .then_rejects("project.academie_required");
    assert!(r.message.contains("au moins une académie"));
}

#[test]
fn establishments_are_linked_once() {
    given::<Project>(submitted())
        .when(C::LinkEstablishment { uai: uai("0750654D") })
        .then([E::ProjectEstablishmentLinked { uai: uai("0750654D") }]);
    given::<Project>(then(submitted(), [E::ProjectEstablishmentLinked { uai: uai("0750654D") }]))
        .when(C::LinkEstablishment { uai: uai("0750654d") })
        .then_rejects("project.establishment_already_linked");
}

#[test]
fn details_are_updated_when_they_change() {
    let command = |title: &str| C::UpdateProjectDetails {
        title: text(title),
        problem_statement: text("Les élèves de cycle 4 peinent à relier les sciences au terrain."),
        summary: Some(text("Sorties de terrain outillées.")),
        themes: vec![text("Sciences"), text("Territoires")],
        target_users: vec![text("Professeurs de SVT")],
    };
    let state = given::<Project>(paused()).when(command("Rivières au collège")).accepted().1;
    assert_eq!(state.title.as_ref().map(Text::as_str), Some("Rivières au collège"));
    assert_eq!(state.summary.as_ref().map(Text::as_str), Some("Sorties de terrain outillées."));
    let updated = Project::decide(&state_of(&paused()), &command("Rivières au collège")).unwrap();
    given::<Project>(then(paused(), updated))
        .when(command("Rivières au collège"))
        .then_rejects("project.details_unchanged");
}

#[test]
fn publishing_toggles_the_visibility() {
    let state = given::<Project>(submitted()).when(C::PublishProject).then([E::ProjectPublished {}]);
    assert_eq!(state.visibility, Visibility::Public);
    given::<Project>(then(submitted(), [E::ProjectPublished {}]))
        .when(C::PublishProject)
        .then_rejects("project.already_public");
    let state = given::<Project>(then(active(), [E::ProjectPublished {}]))
        .when(C::UnpublishProject)
        .then([E::ProjectUnpublished {}]);
    assert_eq!(state.visibility, Visibility::Internal);
    given::<Project>(active()).when(C::UnpublishProject).then_rejects("project.already_internal");
}
