//! Who may change things from Telegram (pause, resume, approve, reject): the users listed in
//! `TELEGRAM_ALLOWED_USER_IDS`; with none listed, only the owner of a private chat with the bot
//! (chat id = user id). Fails closed: a message or button press without a user sender (a
//! channel post, a message sent on behalf of a chat, an anonymous group admin, a bot) never
//! acts. Read-only commands are answered to anyone in the configured chat; that check is
//! the inbox's. Pure: no I/O.

use serde_json::Value;

/// The sender of a message or a button press, as far as authorisation cares.
#[derive(Debug, Clone, PartialEq)]
pub struct Sender {
    /// `from.id`; None when the update has no `from`.
    pub user_id: Option<i64>,
    /// `from.is_bot`.
    pub is_bot: bool,
    /// The message was sent on behalf of a chat (`sender_chat`: a channel, an anonymous admin).
    pub on_behalf_of_chat: bool,
    /// The chat it was sent in: its id, and whether it is a private chat with the bot.
    pub chat_id: Option<i64>,
    pub private_chat: bool,
}

impl Sender {
    /// The sender of a `message` (or `channel_post`) object.
    pub fn of_message(message: &Value) -> Sender {
        Sender::new(
            message.get("from"),
            message,
            message.get("sender_chat").is_some(),
        )
    }

    /// The sender of a `callback_query`: the user who pressed, in the chat of its message.
    pub fn of_callback(query: &Value) -> Sender {
        let message = query.get("message").unwrap_or(&Value::Null);
        Sender::new(query.get("from"), message, false)
    }

    fn new(from: Option<&Value>, message: &Value, on_behalf_of_chat: bool) -> Sender {
        let chat = message.get("chat");
        Sender {
            user_id: from.and_then(|f| f.get("id")).and_then(Value::as_i64),
            is_bot: from
                .and_then(|f| f.get("is_bot"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
            on_behalf_of_chat,
            chat_id: chat.and_then(|c| c.get("id")).and_then(Value::as_i64),
            private_chat: chat.and_then(|c| c.get("type")).and_then(Value::as_str)
                == Some("private"),
        }
    }
}

/// Why a sender may not change things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No user sent it: no `from`, sent on behalf of a chat, or a bot.
    NoUser,
    /// The list names other users.
    NotListed(i64),
    /// No list, and this is not the owner's private chat: nobody may act here.
    NoList(i64),
}

impl Refusal {
    /// The reply to a refused command (plain text, no HTML).
    pub fn reply(self) -> String {
        match self {
            Refusal::NoUser => "Not authorised: changes need a user sender; a message sent on behalf of a chat or channel, or by a bot, never changes anything.".into(),
            Refusal::NotListed(user) => format!(
                "Not authorised: your user id {user} is not in TELEGRAM_ALLOWED_USER_IDS."
            ),
            Refusal::NoList(user) => format!(
                "Not authorised: nobody may change things from this chat while TELEGRAM_ALLOWED_USER_IDS is empty (then only the owner of a private chat with the bot may). To allow someone, set TELEGRAM_ALLOWED_USER_IDS to their user ids, comma-separated (yours is {user}), and restart polyperf-telegram."
            ),
        }
    }

    /// The short answer to a refused button press (at most 200 characters).
    pub fn button(self) -> &'static str {
        match self {
            Refusal::NoUser | Refusal::NotListed(_) => "Not authorised",
            Refusal::NoList(_) => {
                "Not authorised: set TELEGRAM_ALLOWED_USER_IDS to allow approvals from this chat"
            }
        }
    }
}

/// Whether `sender` may change things, given the configured list: `Ok(user id)` or why not.
pub fn may_act(allowed: &[i64], sender: &Sender) -> Result<i64, Refusal> {
    let user = match sender.user_id {
        Some(user) if !sender.is_bot && !sender.on_behalf_of_chat => user,
        _ => return Err(Refusal::NoUser),
    };
    if !allowed.is_empty() {
        return if allowed.contains(&user) {
            Ok(user)
        } else {
            Err(Refusal::NotListed(user))
        };
    }
    if sender.private_chat && sender.chat_id == Some(user) {
        Ok(user)
    } else {
        Err(Refusal::NoList(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(from: Value, chat: Value) -> Value {
        json!({"message_id": 1, "from": from, "chat": chat, "date": 1, "text": "/pause"})
    }

    #[test]
    fn empty_list_fails_closed() {
        let ann = json!({"id": 111, "is_bot": false, "first_name": "Ann"});
        let group = json!({"id": -100, "type": "supergroup"});
        let private = json!({"id": 111, "type": "private"});
        let cases: Vec<(Vec<i64>, Value, Result<i64, Refusal>)> = vec![
            (vec![], message(ann.clone(), private.clone()), Ok(111)),
            (
                vec![],
                message(ann.clone(), group.clone()),
                Err(Refusal::NoList(111)),
            ),
            (
                vec![],
                message(ann.clone(), json!({"id": 222, "type": "private"})),
                Err(Refusal::NoList(111)),
            ),
            (vec![111], message(ann.clone(), group.clone()), Ok(111)),
            (
                vec![222],
                message(ann.clone(), group.clone()),
                Err(Refusal::NotListed(111)),
            ),
            (
                vec![222],
                message(ann.clone(), private.clone()),
                Err(Refusal::NotListed(111)),
            ),
            // No sender at all, a bot, a message on behalf of a chat: never.
            (
                vec![111],
                json!({"chat": group, "text": "/pause"}),
                Err(Refusal::NoUser),
            ),
            (
                vec![],
                json!({"chat": private, "text": "/pause"}),
                Err(Refusal::NoUser),
            ),
            (
                vec![111],
                message(json!({"id": 111, "is_bot": true}), group.clone()),
                Err(Refusal::NoUser),
            ),
            (
                vec![1087968824],
                {
                    let mut m = message(
                        json!({"id": 1087968824, "is_bot": true, "first_name": "Group"}),
                        group.clone(),
                    );
                    m["sender_chat"] = json!({"id": -100, "type": "supergroup"});
                    m
                },
                Err(Refusal::NoUser),
            ),
            (
                vec![111],
                {
                    let mut m = message(ann.clone(), group.clone());
                    m["sender_chat"] = json!({"id": -100777, "type": "channel"});
                    m
                },
                Err(Refusal::NoUser),
            ),
        ];
        for (allowed, message, want) in cases {
            assert_eq!(
                may_act(&allowed, &Sender::of_message(&message)),
                want,
                "{allowed:?} {message}"
            );
        }
        let press = json!({"id": "1", "from": ann, "message": {"message_id": 2, "chat": group}, "data": "approve:1:x"});
        assert_eq!(
            may_act(&[], &Sender::of_callback(&press)),
            Err(Refusal::NoList(111))
        );
        assert_eq!(may_act(&[111], &Sender::of_callback(&press)), Ok(111));
        assert_eq!(
            may_act(
                &[111],
                &Sender::of_callback(&json!({"id": "2", "data": "x"}))
            ),
            Err(Refusal::NoUser)
        );
        assert!(Refusal::NoList(111)
            .reply()
            .contains("TELEGRAM_ALLOWED_USER_IDS"));
        assert!(Refusal::NoList(111).button().len() <= 200);
    }
}
