//! One update from `getUpdates` as the inbox handles it: a text command, a button press, a
//! chat migration, or something to confirm and pass over (photos with captions, stickers,
//! edited messages, channel posts, `my_chat_member`, reactions, forwarded messages, service
//! messages, kinds this version does not know). Pure: no I/O, never panics whatever the JSON.

use serde_json::Value;

/// What an update is, for the inbox.
#[derive(Debug, Clone, PartialEq)]
pub enum Update<'a> {
    /// A message whose text starts with `/`, sent in a chat (the message, its text).
    Command { message: &'a Value, text: &'a str },
    /// An inline button press (`callback_query`).
    Button(&'a Value),
    /// The group `from` was upgraded to the supergroup `to` (the old chat's last message
    /// carries `migrate_to_chat_id`, the new chat's first `migrate_from_chat_id`).
    Migration { from: i64, to: i64 },
    /// Confirmed and passed over; what it was, for the log.
    PassedOver(&'static str),
}

/// The kinds of update Telegram sends besides `message` and `callback_query`, by their key.
const OTHER_KINDS: [&str; 16] = [
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "shipping_query",
    "pre_checkout_query",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
];

/// A message's keys that say it was forwarded: its text is someone else's, never a command.
const FORWARDED: [&str; 6] = [
    "forward_origin",
    "forward_from",
    "forward_from_chat",
    "forward_sender_name",
    "forward_date",
    "is_automatic_forward",
];

/// Reads one update.
pub fn read(update: &Value) -> Update<'_> {
    if let Some(query) = update.get("callback_query") {
        return match query {
            Value::Object(_) => Update::Button(query),
            _ => Update::PassedOver("callback_query that is not an object"),
        };
    }
    let Some(message) = update.get("message").filter(|m| m.is_object()) else {
        let kind = OTHER_KINDS
            .iter()
            .find(|kind| update.get(**kind).is_some())
            .copied()
            .unwrap_or("an update of a kind this version does not read");
        return Update::PassedOver(kind);
    };
    let chat = message.pointer("/chat/id").and_then(Value::as_i64);
    let id = |key: &str| message.get(key).and_then(Value::as_i64);
    if let (Some(from), Some(to)) = (chat, id("migrate_to_chat_id")) {
        return Update::Migration { from, to };
    }
    if let (Some(from), Some(to)) = (id("migrate_from_chat_id"), chat) {
        return Update::Migration { from, to };
    }
    if FORWARDED.iter().any(|key| message.get(*key).is_some()) {
        return Update::PassedOver("forwarded message");
    }
    if message.get("via_bot").is_some() {
        return Update::PassedOver("message sent via an inline bot");
    }
    match message.get("text").and_then(Value::as_str) {
        Some(text) if text.starts_with('/') => Update::Command { message, text },
        Some(_) => Update::PassedOver("message that is not a command"),
        None => Update::PassedOver("message without text (photo, sticker, service message)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// Recorded-style updates (Bot API shapes) and what each is.
    #[test]
    fn updates_that_are_not_text_commands_are_passed_over() {
        let chat = json!({"id": -1001234, "title": "Desk", "type": "supergroup"});
        let from = json!({"id": 111, "is_bot": false, "first_name": "Ann", "language_code": "en"});
        let passed = [
            json!({"update_id": 1, "message": {"message_id": 7, "from": from, "chat": chat, "date": 1771684300,
                "photo": [{"file_id": "AgAC", "file_unique_id": "AQAD", "file_size": 1201, "width": 90, "height": 51}],
                "caption": "/pause look at this"}}),
            json!({"update_id": 2, "message": {"message_id": 8, "from": from, "chat": chat, "date": 1771684300,
                "sticker": {"file_id": "CAAC", "file_unique_id": "AgAD", "type": "regular", "width": 512, "height": 512,
                    "is_animated": false, "is_video": false, "emoji": "👍", "set_name": "Animals"}}}),
            json!({"update_id": 3, "edited_message": {"message_id": 9, "from": from, "chat": chat, "date": 1771684300,
                "edit_date": 1771684360, "text": "/pause"}}),
            json!({"update_id": 4, "channel_post": {"message_id": 10, "sender_chat": {"id": -1009, "title": "News", "type": "channel"},
                "chat": {"id": -1009, "title": "News", "type": "channel"}, "date": 1771684300, "text": "/pause"}}),
            json!({"update_id": 5, "my_chat_member": {"chat": chat, "from": from, "date": 1771684300,
                "old_chat_member": {"user": {"id": 7000000001_i64, "is_bot": true, "first_name": "polyperf"}, "status": "member"},
                "new_chat_member": {"user": {"id": 7000000001_i64, "is_bot": true, "first_name": "polyperf"}, "status": "administrator"}}}),
            json!({"update_id": 6, "message_reaction": {"chat": chat, "message_id": 42, "user": from, "date": 1771684300,
                "old_reaction": [], "new_reaction": [{"type": "emoji", "emoji": "👍"}]}}),
            json!({"update_id": 7, "message": {"message_id": 11, "from": from, "chat": chat, "date": 1771684300,
                "forward_origin": {"type": "user", "sender_user": {"id": 222, "is_bot": false, "first_name": "Bob"}, "date": 1771680000},
                "text": "/pause"}}),
            json!({"update_id": 8, "message": {"message_id": 12, "from": from, "chat": chat, "date": 1771684300,
                "new_chat_members": [{"id": 333, "is_bot": false, "first_name": "Cy"}]}}),
            json!({"update_id": 9, "message": {"message_id": 13, "from": from, "chat": chat, "date": 1771684300, "text": "hello"}}),
            json!({"update_id": 10, "poll": {"id": "5", "question": "?", "options": [], "total_voter_count": 0}}),
            json!({"update_id": 11}),
            json!({"update_id": 12, "message": "not an object"}),
            json!({"update_id": 13, "callback_query": [1, 2]}),
        ];
        for update in &passed {
            assert!(
                matches!(read(update), Update::PassedOver(_)),
                "{update}: {:?}",
                read(update)
            );
        }
        // A press on a message too old to edit (`date: 0`) is still a press: the nonce and the
        // proposal's expiry decide; the inbox does not try to edit it.
        let old_press = json!({"update_id": 14, "callback_query": {"id": "4382", "from": from, "chat_instance": "-57",
            "message": {"message_id": 42, "chat": chat, "date": 0}, "data": "approve:12:9f3a"}});
        assert!(matches!(read(&old_press), Update::Button(_)));
        let command = json!({"update_id": 15, "message": {"message_id": 14, "from": from, "chat": chat,
            "date": 1771684300, "text": "/status@my_polyperf_bot",
            "entities": [{"offset": 0, "length": 23, "type": "bot_command"}]}});
        assert!(matches!(
            read(&command),
            Update::Command {
                text: "/status@my_polyperf_bot",
                ..
            }
        ));
    }

    #[test]
    fn both_sides_of_a_migration_are_read() {
        let old = json!({"update_id": 1, "message": {"message_id": 50, "from": {"id": 111, "is_bot": false, "first_name": "Ann"},
            "chat": {"id": -4012345678_i64, "title": "Desk", "type": "group"}, "date": 1771684300,
            "migrate_to_chat_id": -1004012345678_i64}});
        let new = json!({"update_id": 2, "message": {"message_id": 1, "from": {"id": 1087968824, "is_bot": true, "first_name": "Group", "username": "GroupAnonymousBot"},
            "sender_chat": {"id": -1004012345678_i64, "title": "Desk", "type": "supergroup"},
            "chat": {"id": -1004012345678_i64, "title": "Desk", "type": "supergroup"}, "date": 1771684300,
            "migrate_from_chat_id": -4012345678_i64}});
        let want = Update::Migration {
            from: -4012345678,
            to: -1004012345678,
        };
        assert_eq!(read(&old), want);
        assert_eq!(read(&new), want);
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            "[ -~]{0,12}".prop_map(Value::from),
            Just(Value::from("/pause@other_bot now")),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop::sample::select(vec![
                        "message",
                        "callback_query",
                        "chat",
                        "id",
                        "text",
                        "from",
                        "date",
                        "migrate_to_chat_id",
                        "migrate_from_chat_id",
                        "forward_origin",
                        "edited_message",
                        "update_id",
                        "caption",
                        "via_bot",
                    ])
                    .prop_map(str::to_string),
                    inner,
                    0..5,
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Any JSON: no panic; a command is always a `/` text of a `message` object.
        #[test]
        fn any_update_reads_without_panicking(update in json_value()) {
            match read(&update) {
                Update::Command { message, text } => {
                    prop_assert!(text.starts_with('/'));
                    prop_assert_eq!(update.get("message"), Some(message));
                }
                Update::Button(query) => prop_assert!(query.is_object()),
                Update::Migration { .. } | Update::PassedOver(_) => {}
            }
        }
    }
}
